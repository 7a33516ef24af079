"""The distributor's own API: its shop, prices, network, channels, purchases, orders and money.

Every read is scoped to the caller's branch (itself and its downline) by a
``Reach``: an id from another branch answers 404, exactly like an id that does
not exist — in the path and in a filter alike (``?distributor_id=``,
``?channel_id=``). Each sync route does its work in the request's one unit of
work (``ReadSession``/``WriteSession``); idempotent creates keep ``run_once``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from keyrelay import checkout
from keyrelay.catalog import kinds
from keyrelay.catalog import service as catalog
from keyrelay.catalog.models import Product
from keyrelay.distribution import channels, network, prices, reach
from keyrelay.distribution.models import Distributor
from keyrelay.identity import api_keys
from keyrelay.identity.service import Principal
from keyrelay.inventory import service as inventory
from keyrelay.kit.clock import utcnow
from keyrelay.ledger import reading, withdrawals
from keyrelay.ledger import service as ledger
from keyrelay.orders import service as orders
from keyrelay.orders.models import Order
from keyrelay.web.api.v1.network_schemas import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyOut,
    ChannelIn,
    ChannelOut,
    DistributorOut,
    DownlineOut,
    ExplainOut,
    InviteIn,
    InviteOut,
    OfferOut,
    PriceRuleIn,
    PriceRuleOut,
    PurchaseIn,
    RetailIn,
    SalesRowOut,
    ShareOut,
    SiteIn,
    StatementLineOut,
    StepOut,
    StockLevelOut,
    WalletSummaryOut,
    WithdrawalIn,
    WithdrawalOut,
)
from keyrelay.web.api.v1.orders import detail
from keyrelay.web.api.v1.schemas import EventOut, OrderDetail, OrderOut
from keyrelay.web.auth import (
    ConsoleDistributor,
    DistributorReader,
    GuardedRoute,
    KeyManager,
    MoneyWriter,
    NetworkManager,
    OrderWriter,
    spends_nonce_in_work,
)
from keyrelay.web.idempotency import IDEMPOTENT, owner_of, run_once
from keyrelay.web.state import AppState, base_url, client_ip, state_of
from keyrelay.web.uow import ReadSession, WriteSession

router = APIRouter(prefix="/distributor", tags=["distributor"], route_class=GuardedRoute)


def _me(session: Session, who: Principal) -> Distributor:
    return network.for_user(session, who.user_id)


@router.get("/me", response_model=DistributorOut)
def me(who: DistributorReader, session: ReadSession) -> DistributorOut:
    """My distributor profile: level, status, parent and sub-site settings."""
    return DistributorOut.of(_me(session, who))


@router.put("/me/site", response_model=DistributorOut)
def update_site(body: SiteIn, who: NetworkManager, session: WriteSession) -> DistributorOut:
    """Sub-site settings: name, logo, notice, contact, own host name."""
    own = _me(session, who)
    network.update_site(session, own, name=body.name, logo_url=body.logo_url, notice=body.notice, contact=body.contact, host=body.host)
    return DistributorOut.of(own)


@router.get("/products", response_model=list[OfferOut])
def my_products(
    who: DistributorReader,
    session: ReadSession,
    response: Response,
    updated_since: Annotated[datetime | None, Query(description="Only products changed at or after this instant (sync cursor)")] = None,
) -> list[OfferOut]:
    """Products I may sell with my cost, the MAP and ceiling, my retail and the stock.

    For incremental catalog sync, pass the ``X-Sync-Cursor`` of the previous
    answer as ``updated_since``.
    """
    own = _me(session, who)
    products = catalog.list_products(session, updated_since=updated_since)
    response.headers["X-Sync-Cursor"] = max((p.updated_at for p in products), default=updated_since or utcnow()).isoformat()
    return _offers_out(session, own, products)


@router.get("/products/{product_id}", response_model=OfferOut)
def my_product(product_id: int, who: DistributorReader, session: ReadSession) -> OfferOut:
    """One product as I see it (cost, limits, retail, stock)."""
    return _offers_out(session, _me(session, who), [catalog.get_product(session, product_id, active_only=True)])[0]


@router.get("/stock", response_model=list[StockLevelOut])
def stock_levels(who: DistributorReader, session: ReadSession) -> list[StockLevelOut]:
    """Available units of every card-key product (cheap to poll)."""
    products = [p for p in catalog.list_products(session) if kinds.get(p.kind).tracks_stock]
    counts = inventory.available_counts(session, [p.id for p in products])
    return [StockLevelOut(product_id=p.id, in_stock=counts[p.id]) for p in products]


def _offers_out(session: Session, own: Distributor, products: list[Product]) -> list[OfferOut]:
    stock = inventory.available_counts(session, [p.id for p in products])
    return [
        OfferOut(
            product_id=o.product.id,
            name=o.product.name,
            currency=o.product.currency,
            cost_minor=o.cost,
            map_minor=o.product.map_minor,
            max_retail_minor=o.max_retail,
            retail_minor=o.retail,
            suggested_retail_minor=o.suggested_retail,
            in_stock=stock[o.product.id] if kinds.get(o.product.kind).tracks_stock else None,
            updated_at=o.product.updated_at,
        )
        for o in prices.offers(session, own, products)
    ]


def explain_out(session: Session, target: Distributor, product_id: int) -> ExplainOut:
    product = catalog.get_product(session, product_id)
    quote = prices.explain(session, target, product)
    limits = prices.product_prices(product)
    return ExplainOut(
        product_id=product.id,
        currency=product.currency,
        supply_minor=product.supply_price_minor,
        map_minor=product.map_minor,
        max_retail_minor=limits.max_retail,
        cost_minor=quote.unit_cost or 0,
        retail_minor=quote.unit_price,
        chain=[
            StepOut(distributor_id=s.distributor_id, level=s.level, cost_minor=s.cost, source=s.source, clamped=s.clamped)
            for s in quote.steps
        ],
        per_unit_split=[ShareOut(party=s.party, role=s.role, amount_minor=s.amount) for s in quote.split.shares],
    )


@router.get("/prices/{product_id}/explain", response_model=ExplainOut)
def explain_price(
    product_id: int,
    who: DistributorReader,
    session: ReadSession,
    distributor_id: Annotated[
        int | None, Query(description="One of your downline; default: yourself. An id outside your branch is 404 not_found.")
    ] = None,
) -> ExplainOut:
    """The whole price chain for a product: who pays what, who earns what per unit."""
    own = _me(session, who)
    target = reach.Reach.branch(own).distributor(session, distributor_id) if distributor_id else own
    return explain_out(session, target, product_id)


@router.put("/retail/{product_id}", response_model=OfferOut)
def set_retail(product_id: int, body: RetailIn, who: NetworkManager, session: WriteSession) -> OfferOut:
    """My sub-site retail price: never below MAP or my cost, never above the maximum markup."""
    own = _me(session, who)
    product = catalog.get_product(session, product_id, active_only=True)
    prices.set_retail(session, own, product, price_minor=body.price_minor, actor=f"user:{who.user_id}")
    offer = prices.offers(session, own, [product])[0]
    return OfferOut(
        product_id=product.id,
        name=product.name,
        currency=product.currency,
        cost_minor=offer.cost,
        map_minor=product.map_minor,
        max_retail_minor=offer.max_retail,
        retail_minor=offer.retail,
        suggested_retail_minor=offer.suggested_retail,
        in_stock=inventory.available_counts(session, [product.id])[product.id],
        updated_at=product.updated_at,
    )


@router.get("/child-prices", response_model=list[PriceRuleOut])
def list_child_prices(who: DistributorReader, session: ReadSession) -> list[PriceRuleOut]:
    """The price rules my direct children buy at (per product and the default)."""
    return [PriceRuleOut(product_id=r.product_id, rule=r.rule, value=r.value) for r in prices.child_rules(session, _me(session, who))]


@router.put("/child-prices", response_model=PriceRuleOut)
def set_child_price(body: PriceRuleIn, who: NetworkManager, session: WriteSession) -> PriceRuleOut:
    """What my children buy at (per product or default): inherit, % markup, fixed markup or fixed price."""
    own = _me(session, who)
    product = catalog.get_product(session, body.product_id) if body.product_id else None
    row = prices.set_child_price(session, own, product=product, rule=body.rule, value=body.value, actor=f"user:{who.user_id}")
    return PriceRuleOut(product_id=row.product_id, rule=row.rule, value=row.value)


@router.get("/downline", response_model=list[DownlineOut])
def my_downline(who: DistributorReader, session: ReadSession) -> list[DownlineOut]:
    """My sub-distributors (all levels) with their sales."""
    mine = _reach(session, who)
    sales = {r.key: r.amount_minor for r in orders.sales_by(session, mine, by="distributor")}
    return [DownlineOut(**DistributorOut.of(d).model_dump(), sales_minor=sales.get(d.id, 0)) for d in mine.downline(session)]


@router.post("/invites", response_model=InviteOut, status_code=201)
def create_invite(body: InviteIn, who: NetworkManager, request: Request, session: WriteSession) -> InviteOut:
    """An invite link for a new sub-distributor directly under me."""
    own = _me(session, who)
    invite = network.create_invite(
        session,
        network.Actor(who.user_id, who.role),
        parent_id=own.id,
        max_uses=body.max_uses,
        ttl_hours=body.ttl_hours,
        requires_approval=body.requires_approval,
        max_depth=state_of(request).settings.distribution_max_depth,
    )
    return InviteOut.of(invite, base_url(request))


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(who: DistributorReader, session: ReadSession) -> list[ChannelOut]:
    """My named sales channels (orders are attributed to one)."""
    return [ChannelOut.of(c) for c in channels.list_for(session, _me(session, who))]


@router.post("/channels", response_model=ChannelOut, status_code=201)
def create_channel(body: ChannelIn, who: NetworkManager, session: WriteSession) -> ChannelOut:
    """A named sales channel (e.g. a Taobao shop) to attribute orders and API keys to."""
    return ChannelOut.of(channels.create(session, _me(session, who), name=body.name, kind=body.kind))


class PurchaseOut(OrderDetail):
    pass


@router.post("/purchases", response_model=PurchaseOut, status_code=201, responses=IDEMPOTENT)
@spends_nonce_in_work
async def wholesale_purchase(body: PurchaseIn, who: OrderWriter, request: Request) -> Response:
    """Buy at my cost from my balance; the keys are in the response. Safe to retry with ``Idempotency-Key``."""
    st = state_of(request)
    ip = client_ip(request)
    channel_id = api_keys.sales_channel(who.channel_id, body.channel_id)

    def work(session: Session) -> OrderDetail:  # what PurchaseOut documents, sent as it is (no copy into the subclass)
        purchase = checkout.WholesalePurchase(
            user_id=who.user_id,
            email=who.email,
            product_id=body.product_id,
            quantity=body.quantity,
            channel_id=channel_id,
            declared_retail_minor=body.declared_retail_minor,
            buyer_ref=body.buyer_ref,
            client_ip=ip,
        )
        order = checkout.buy_wholesale(session, purchase, terms=st.terms)
        return detail(session, st, order, actor=who.actor, ip=ip)

    return await run_once(request, owner=owner_of(request, who.user_id, who.key_id), status_code=201, work=work)


def _reach(session: Session, who: Principal) -> reach.Reach:
    return reach.Reach.branch(_me(session, who))


OUTSIDE = "; an id outside your branch answers 404 not_found, exactly like one that does not exist"


@router.get(
    "/orders",
    response_model=list[OrderOut],
    responses={404: {"description": "A distributor_id or channel_id outside your branch, or of nobody (code not_found)"}},
)
def list_orders(
    who: DistributorReader,
    session: ReadSession,
    response: Response,
    status: str | None = None,
    distributor_id: Annotated[int | None, Query(description=f"Sold by this distributor (you or your downline){OUTSIDE}")] = None,
    channel_id: Annotated[int | None, Query(description=f"Sold through this channel (of you or your downline){OUTSIDE}")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_id: Annotated[int | None, Query(description="Cursor: the X-Next-Cursor of the previous page")] = None,
) -> list[OrderOut]:
    """Orders sold by me and my downline (never another branch), newest first, cursor-paginated."""
    flt = orders.OrderFilter(status=status, distributor_id=distributor_id, channel_id=channel_id)
    rows = orders.list_orders(session, _reach(session, who), flt, limit=limit, before_id=before_id)
    if len(rows) == limit:
        response.headers["X-Next-Cursor"] = str(rows[-1].id)
    return [OrderOut.of(o) for o in rows]


@router.get("/orders/{number}", response_model=OrderDetail)
def get_order(number: str, who: DistributorReader, request: Request, session: WriteSession) -> OrderDetail:
    """One order of my branch. Keys are shown only for my own wholesale purchases."""
    # A write transaction on purpose: showing my own purchase's keys writes an audit row
    # (every reveal of a key is audited), in the same unit of work as the read.
    st = state_of(request)
    order = orders.get_readable(session, _reach(session, who), number)
    if order.buyer_user_id == who.user_id:
        return detail(session, st, order, actor=f"user:{who.user_id}", ip=client_ip(request))
    return detail_without_keys(session, st, order)


def detail_without_keys(session: Session, st: AppState, order: Order) -> OrderDetail:
    return OrderDetail(order=OrderOut.of(order), keys=[], timeline=[EventOut.of(e) for e in orders.timeline(session, order.id)])


@router.get("/sales", response_model=list[SalesRowOut])
def sales(
    who: DistributorReader, session: ReadSession, by: Annotated[str, Query(pattern="^(channel|distributor|product)$")] = "channel"
) -> list[SalesRowOut]:
    """Sales of my branch grouped by channel, distributor or product."""
    rows = orders.sales_by(session, _reach(session, who), by=by)
    return [
        SalesRowOut(key=r.key, label=str(r.key), orders=r.orders, units=r.units, amount_minor=r.amount_minor, currency=r.currency)
        for r in rows
    ]


@router.get("/wallet", response_model=WalletSummaryOut)
def wallet(who: DistributorReader, session: ReadSession, currency: str = "CNY") -> WalletSummaryOut:
    """Available (withdrawable/spendable), pending (in the settlement hold), locked (withdrawals)."""
    summary = ledger.wallet_summary(session, who.user_id, currency.upper())
    return WalletSummaryOut(
        currency=summary.currency, available_minor=summary.available, pending_minor=summary.pending, locked_minor=summary.locked
    )


@router.get("/wallet/statement", response_model=list[StatementLineOut])
def statement(
    who: DistributorReader,
    session: ReadSession,
    currency: str = "CNY",
    account: Annotated[str, Query(pattern="^(available|pending)$")] = "available",
) -> list[StatementLineOut]:
    """Ledger lines of my available (default) or pending account."""
    return [
        StatementLineOut(transaction_id=t.id, kind=t.kind, ref=t.ref, memo=t.memo, amount_minor=amount, at=t.created_at)
        for t, amount in ledger.user_statement(session, who.user_id, currency.upper(), account=account)
    ]


@router.post("/withdrawals", response_model=WithdrawalOut, status_code=201, responses=IDEMPOTENT)
@spends_nonce_in_work
async def request_withdrawal(body: WithdrawalIn, who: MoneyWriter, request: Request) -> Response:
    """Ask for a payout; the amount is locked until the operator pays or rejects it. Safe to retry with ``Idempotency-Key``."""
    st = state_of(request)

    def work(session: Session) -> WithdrawalOut:
        item = withdrawals.request(
            session,
            user_id=who.user_id,
            amount_minor=body.amount_minor,
            currency=body.currency,
            payee=body.payee,
            minimum=st.settings.withdraw_min_minor,
        )
        return WithdrawalOut.of(item)

    return await run_once(request, owner=owner_of(request, who.user_id, who.key_id), status_code=201, work=work)


@router.get("/withdrawals", response_model=list[WithdrawalOut])
def list_withdrawals(who: DistributorReader, session: ReadSession) -> list[WithdrawalOut]:
    """My payout requests and their status."""
    return [WithdrawalOut.of(w) for w in reading.readable_withdrawals(session, _reach(session, who))]


@router.post("/api-keys", response_model=ApiKeyCreatedOut, status_code=201)
def create_api_key(body: ApiKeyIn, who: ConsoleDistributor, request: Request, session: WriteSession) -> ApiKeyCreatedOut:
    """A key for a channel integration. The secret is in this response only: store it now."""
    own = _me(session, who)
    channel_id = channels.owned(session, own, body.channel_id).id if body.channel_id else None
    vault = state_of(request).settings.vault
    made = api_keys.create(session, user_id=who.user_id, name=body.name, scopes=list(body.scopes), vault=vault, channel_id=channel_id)
    return ApiKeyCreatedOut(**ApiKeyOut.of(made.key).model_dump(), secret=made.secret)


@router.get("/api-keys", response_model=list[ApiKeyOut])
def list_api_keys(who: KeyManager, session: ReadSession) -> list[ApiKeyOut]:
    """My keys with scopes and last use; secrets are never returned again."""
    return [ApiKeyOut.of(k) for k in api_keys.list_for(session, who.user_id)]


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut)
def revoke_api_key(key_id: str, who: KeyManager, session: WriteSession) -> ApiKeyOut:
    """Revoke a key: its next request is refused with ``key_revoked``."""
    return ApiKeyOut.of(api_keys.revoke(session, user_id=who.user_id, key_id=key_id))
