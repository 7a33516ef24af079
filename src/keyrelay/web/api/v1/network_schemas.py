"""API shapes of the distribution network (distributor and operator sides)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from keyrelay.distribution.models import Channel, Distributor, Invite
from keyrelay.identity import api_keys
from keyrelay.identity.scopes import Scope
from keyrelay.kit.money import MAX_AMOUNT_MINOR
from keyrelay.ledger import withdrawals


class DistributorOut(BaseModel):
    id: int
    parent_id: int | None
    level: int
    status: str
    slug: str
    name: str
    host: str | None
    logo_url: str
    notice: str
    contact: str
    created_at: datetime

    @classmethod
    def of(cls, row: Distributor) -> DistributorOut:
        return cls(
            id=row.id,
            parent_id=row.parent_id,
            level=row.level,
            status=row.status,
            slug=row.slug,
            name=row.name,
            host=row.host,
            logo_url=row.logo_url,
            notice=row.notice,
            contact=row.contact,
            created_at=row.created_at,
        )


class SiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    logo_url: str = Field(default="", max_length=500)
    notice: str = Field(default="", max_length=2000)
    contact: str = Field(default="", max_length=200)
    host: str | None = Field(default=None, max_length=253, examples=["shop.example.com"])


class JoinIn(BaseModel):
    """Redeem an invite code: creates the distributor account and its sub-site."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=4, max_length=64)
    email: str = Field(max_length=254)
    password: str = Field(min_length=8, max_length=256)
    name: str = Field(min_length=1, max_length=80, examples=["Lucky Keys"])
    slug: str = Field(min_length=3, max_length=40, examples=["lucky-keys"])


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_uses: int = Field(default=1, ge=1, le=1000)
    ttl_hours: int = Field(default=72, ge=1, le=2160)
    requires_approval: bool = False


class AdminInviteIn(InviteIn):
    parent_id: int | None = Field(default=None, description="Distributor to join under; null = level 1")


class InviteOut(BaseModel):
    id: int
    code: str
    parent_id: int | None
    max_uses: int
    uses: int
    requires_approval: bool
    expires_at: datetime
    join_url: str

    @classmethod
    def of(cls, row: Invite, base_url: str) -> InviteOut:
        return cls(
            id=row.id,
            code=row.code,
            parent_id=row.distributor_id,
            max_uses=row.max_uses,
            uses=row.uses,
            requires_approval=row.requires_approval,
            expires_at=row.expires_at,
            join_url=f"{base_url}/join/{row.code}",
        )


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=60, examples=["Taobao shop"])
    kind: Literal["api", "taobao", "telegram", "website", "other"] = "other"


class ChannelOut(BaseModel):
    id: int
    name: str
    kind: str
    is_active: bool

    @classmethod
    def of(cls, row: Channel) -> ChannelOut:
        return cls(id=row.id, name=row.name, kind=row.kind, is_active=row.is_active)


class PriceRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: int | None = Field(default=None, description="null = the default rule")
    rule: Literal["inherit", "fixed", "markup_pct", "markup_fixed"]
    value: int = Field(default=0, ge=0, le=MAX_AMOUNT_MINOR, strict=True, description="minor units, or basis points for markup_pct")


class LevelPriceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: int = Field(ge=1, le=10)
    product_id: int | None = None
    rule: Literal["fixed", "markup_pct", "markup_fixed"]
    value: int = Field(ge=0, le=MAX_AMOUNT_MINOR, strict=True)


class PriceRuleOut(BaseModel):
    product_id: int | None
    rule: str
    value: int
    level: int | None = None


class RetailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    price_minor: int = Field(gt=0, le=MAX_AMOUNT_MINOR, strict=True)


class StepOut(BaseModel):
    distributor_id: int
    level: int
    cost_minor: int
    source: str
    clamped: bool


class ShareOut(BaseModel):
    party: str
    role: str
    amount_minor: int


class ExplainOut(BaseModel):
    """Why a distributor pays what it pays, and who earns what on one unit sold at its retail."""

    product_id: int
    currency: str
    supply_minor: int
    map_minor: int
    max_retail_minor: int | None
    chain: list[StepOut]
    cost_minor: int
    retail_minor: int
    per_unit_split: list[ShareOut]


class OfferOut(BaseModel):
    """A product as one distributor sees it."""

    product_id: int
    name: str
    currency: str
    cost_minor: int
    map_minor: int
    max_retail_minor: int | None
    retail_minor: int
    suggested_retail_minor: int
    in_stock: int | None
    updated_at: datetime


class StockLevelOut(BaseModel):
    product_id: int
    in_stock: int


class PurchaseIn(BaseModel):
    """A wholesale purchase paid from the distributor's balance; keys come back in the response."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"product_id": 3, "quantity": 1, "buyer_ref": "T1001", "declared_retail_minor": 5800}]},
    )
    product_id: int = Field(gt=0)
    quantity: int = Field(ge=1, le=1000, strict=True)
    channel_id: int | None = None
    declared_retail_minor: int | None = Field(default=None, gt=0, le=MAX_AMOUNT_MINOR, strict=True)
    buyer_ref: str = Field(default="", max_length=120, description="Your own reference for the end buyer")


class WalletSummaryOut(BaseModel):
    currency: str
    available_minor: int
    pending_minor: int
    locked_minor: int


class StatementLineOut(BaseModel):
    transaction_id: int
    kind: str
    ref: str
    memo: str
    amount_minor: int
    at: datetime


class WithdrawalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_minor: int = Field(gt=0, le=MAX_AMOUNT_MINOR, strict=True)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3,4}$")
    payee: str = Field(min_length=1, max_length=500, examples=["Alipay: someone@example.com"])


class WithdrawalDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=500)
    reference: str = Field(default="", max_length=120)


class WithdrawalOut(BaseModel):
    id: int
    user_id: int
    amount_minor: int
    currency: str
    status: str
    payee: str
    reference: str
    note: str
    created_at: datetime

    @classmethod
    def of(cls, row: withdrawals.Withdrawal) -> WithdrawalOut:
        return cls(
            id=row.id,
            user_id=row.user_id,
            amount_minor=row.amount_minor,
            currency=row.currency,
            status=row.status,
            payee=row.payee,
            reference=row.reference,
            note=row.note,
            created_at=row.created_at,
        )


class SalesRowOut(BaseModel):
    key: int | None
    label: str
    orders: int
    units: int
    amount_minor: int
    currency: str


class DownlineOut(DistributorOut):
    sales_minor: int


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200)


class StatusChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=200)


class AccountBalanceOut(BaseModel):
    code: str
    kind: str
    currency: str
    owner_user_id: int | None
    balance_minor: int


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80, examples=["Taobao auto-delivery"])
    scopes: list[Scope] = Field(
        min_length=1,
        examples=[["catalog:read", "orders:write"]],
        description="What the key may do; it gets exactly these (see docs/integration.md for the route table)",
    )
    channel_id: int | None = Field(default=None, description="Attribute this key's orders to one of your channels")


class ApiKeyOut(BaseModel):
    key_id: str
    name: str
    scopes: list[str]
    channel_id: int | None
    revoked: bool
    last_used_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: api_keys.ApiKey) -> ApiKeyOut:
        return cls(
            key_id=row.key_id,
            name=row.name,
            scopes=row.scopes.split(),
            channel_id=row.channel_id,
            revoked=row.revoked,
            last_used_at=row.last_used_at,
            created_at=row.created_at,
        )


class ApiKeyCreatedOut(ApiKeyOut):
    secret: str = Field(description="Shown once. Sign requests with it; it is never returned again.")
