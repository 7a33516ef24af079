"""Operator API: catalog management, key import, stock, orders, reveals, wallets, audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from keyrelay import checkout
from keyrelay.audit import service as audit
from keyrelay.catalog import service as catalog
from keyrelay.catalog.schemas import CategoryIn, ProductIn
from keyrelay.distribution import reach
from keyrelay.identity import service as identity
from keyrelay.inventory import service as inventory
from keyrelay.inventory.parsing import sniff_format
from keyrelay.ledger import service as ledger
from keyrelay.orders import service as orders
from keyrelay.web import codes
from keyrelay.web.api.v1.orders import detail
from keyrelay.web.api.v1.schemas import (
    AuditOut,
    BooksOut,
    CardKeyOut,
    CategoryOut,
    CreditIn,
    ImportOut,
    KeysTextIn,
    ManualDeliveryIn,
    OrderDetail,
    OrderOut,
    ProductOut,
    RevealOut,
    StockOut,
    UserIn,
    UserOut,
    WalletOut,
)
from keyrelay.web.auth import GuardedRoute, Operator
from keyrelay.web.state import client_ip, state_of
from keyrelay.web.uow import ReadSession, WriteSession

router = APIRouter(prefix="/admin", tags=["admin"], route_class=GuardedRoute)
MAX_UPLOAD = 64 * 1024 * 1024


@router.get("/categories", response_model=list[CategoryOut])
def list_categories(who: Operator, session: ReadSession) -> list[CategoryOut]:
    """Every category, inactive ones included."""
    return [CategoryOut.of(c) for c in catalog.list_categories(session, active_only=False)]


@router.post("/categories", response_model=CategoryOut, status_code=201)
def create_category(body: CategoryIn, who: Operator, session: WriteSession) -> CategoryOut:
    """A new category (the slug must be unique)."""
    return CategoryOut.of(catalog.create_category(session, body, actor=who.actor))


@router.put("/categories/{category_id}", response_model=CategoryOut)
def update_category(category_id: int, body: CategoryIn, who: Operator, session: WriteSession) -> CategoryOut:
    """Rename, reorder, describe or deactivate a category."""
    return CategoryOut.of(catalog.update_category(session, category_id, body, actor=who.actor))


@router.get("/products", response_model=list[ProductOut])
def list_products(who: Operator, session: ReadSession) -> list[ProductOut]:
    """Every product, inactive ones included, with stock."""
    products = catalog.list_products(session, active_only=False)
    stock = inventory.available_counts(session, [p.id for p in products])
    return [ProductOut.of(p, stock[p.id]) for p in products]


@router.post("/products", response_model=ProductOut, status_code=201)
def create_product(body: ProductIn, who: Operator, request: Request, session: WriteSession) -> ProductOut:
    """A new product with its main-site price, supply price, MAP and limits."""
    st = state_of(request)
    return ProductOut.of(catalog.create_product(session, body, actor=who.actor, vault=st.settings.vault), 0)


@router.put("/products/{product_id}", response_model=ProductOut)
def update_product(product_id: int, body: ProductIn, who: Operator, request: Request, session: WriteSession) -> ProductOut:
    """Change a product's prices, limits or status."""
    st = state_of(request)
    product = catalog.update_product(session, product_id, body, actor=who.actor, vault=st.settings.vault)
    return ProductOut.of(product, inventory.available_counts(session, [product.id])[product.id])


@router.get("/products/{product_id}/stock", response_model=StockOut)
def product_stock(product_id: int, who: Operator, session: ReadSession) -> StockOut:
    """Key counts of a product: available, reserved, sold, and whether stock is low."""
    product = catalog.get_product(session, product_id)
    counts = inventory.stock_counts(session, [product.id])[product.id]
    return StockOut(product_id=product.id, **counts, low=counts["available"] <= product.low_stock_threshold)


@router.post("/products/{product_id}/keys", response_model=ImportOut, status_code=201)
def import_keys_text(product_id: int, body: KeysTextIn, who: Operator, request: Request) -> ImportOut:
    """Import pasted keys (JSON). All or nothing; duplicates are skipped and reported."""
    return _import(request, product_id, body.text.encode(), body.format, "api", who.actor)


@router.post("/products/{product_id}/keys/upload", response_model=ImportOut, status_code=201)
def import_keys_file(
    product_id: int,
    who: Operator,
    request: Request,
    file: Annotated[UploadFile, File()],
    format: Annotated[str | None, Form()] = None,
) -> ImportOut:
    """Import a TXT (one key per line) or CSV file."""
    data = file.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise codes.FILE_TOO_LARGE(field="file")
    fmt = format or sniff_format(file.filename, data)
    return _import(request, product_id, data, fmt, fmt if fmt == "csv" else "txt", who.actor)


def _import(request: Request, product_id: int, data: bytes, fmt: str, source: str, actor: str) -> ImportOut:
    st = state_of(request)
    with st.db.transaction() as session:
        catalog.get_product(session, product_id)
        report = inventory.import_keys(
            session, product_id=product_id, data=data, fmt=fmt, source=source, vault=st.settings.vault, actor=actor
        )
        return ImportOut(
            batch_id=report.batch_id, imported=report.imported, duplicates=report.duplicates, duplicate_lines=report.duplicate_lines[:1000]
        )


@router.get("/products/{product_id}/keys", response_model=list[CardKeyOut])
def list_keys(
    product_id: int,
    who: Operator,
    session: ReadSession,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: int | None = None,
) -> list[CardKeyOut]:
    """Key rows without secrets; reveal one with POST /admin/keys/{id}/reveal."""
    catalog.get_product(session, product_id)
    rows = inventory.list_keys(session, product_id=product_id, status=status, limit=limit, before_id=before_id)
    return [CardKeyOut(id=k.id, status=k.status, order_id=k.order_id, created_at=k.created_at, sold_at=k.sold_at) for k in rows]


@router.post("/keys/{key_id}/reveal", response_model=RevealOut)
def reveal_key(key_id: int, who: Operator, request: Request, session: WriteSession) -> RevealOut:
    """Decrypt one key. Every reveal is written to the audit log."""
    st = state_of(request)
    key = inventory.reveal_key(session, key_id=key_id, vault=st.settings.vault, actor=who.actor, ip=client_ip(request))
    return RevealOut(id=key.key_id, secret=key.secret)


@router.get("/orders", response_model=list[OrderOut])
def list_orders(
    who: Operator,
    session: ReadSession,
    status: str | None = None,
    product_id: int | None = None,
    contact: str | None = None,
    number: str | None = None,
    needs_attention: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_id: int | None = None,
) -> list[OrderOut]:
    """Newest first; page with ``before_id`` = the last id you saw (see ``X-Next-Before-Id``)."""
    flt = orders.OrderFilter(status=status, product_id=product_id, contact=contact, number=number, needs_attention=needs_attention)
    return [OrderOut.of(o) for o in orders.list_orders(session, reach.of(session, who), flt, limit=limit, before_id=before_id)]


@router.get("/orders/{number}", response_model=OrderDetail)
def get_order(number: str, who: Operator, request: Request, session: WriteSession) -> OrderDetail:
    """Any order with its keys and timeline (reading the keys is audited)."""
    # A write transaction on purpose: every reveal of a key writes an audit row.
    st = state_of(request)
    return detail(session, st, orders.get_by_number(session, number), actor=who.actor, ip=client_ip(request))


@router.post("/orders/{number}/cancel", response_model=OrderOut)
def cancel_order(number: str, who: Operator, session: WriteSession) -> OrderOut:
    """Cancel an unpaid order; its keys return to stock."""
    order = orders.get_by_number(session, number)
    checkout.cancel(session, order, actor=who.actor)
    return OrderOut.of(order)


@router.post("/orders/{number}/deliver", response_model=OrderOut)
def deliver_manually(number: str, body: ManualDeliveryIn, who: Operator, request: Request, session: WriteSession) -> OrderOut:
    """Deliver a paid manual-delivery order by hand (content is stored encrypted)."""
    st = state_of(request)
    order = orders.get_by_number(session, number)
    checkout.deliver_manually(session, order, content=body.content, vault=st.settings.vault, actor=who.actor)
    return OrderOut.of(order)


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, who: Operator, request: Request) -> UserOut:
    """An account of any role (operator, supplier, distributor, buyer)."""
    with state_of(request).db.transaction() as session:
        user = identity.create_user(session, email=body.email, password=body.password, role=body.role, display_name=body.display_name)
        return UserOut(id=user.id, email=user.email, role=user.role, display_name=user.display_name)


@router.post("/wallets/{user_id}/credit", response_model=WalletOut)
def credit_wallet(user_id: int, body: CreditIn, who: Operator, request: Request) -> WalletOut:
    """Credit a user's prepaid wallet (a balanced topup transaction)."""
    with state_of(request).db.transaction() as session:
        credit = ledger.credit_by_operator(
            session,
            user_id=user_id,
            amount_minor=body.amount_minor,
            currency=body.currency,
            memo=body.memo,
            actor=who.actor,
            ip=client_ip(request),
        )
        return WalletOut(user_id=user_id, currency=body.currency, balance_minor=credit.balance_minor)


@router.get("/audit", response_model=list[AuditOut])
def audit_log(
    who: Operator, request: Request, action: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[AuditOut]:
    """Who did what to which object, newest first, with filters."""
    with state_of(request).db.transaction(write=False) as session:
        return [
            AuditOut(
                id=e.id,
                actor=e.actor,
                action=e.action,
                target_type=e.target_type,
                target_id=e.target_id,
                ip=e.ip,
                detail=e.detail,
                created_at=e.created_at,
            )
            for e in audit.recent(session, action=action, limit=limit)
        ]


@router.get("/ledger/check", response_model=BooksOut)
def ledger_check(who: Operator, session: ReadSession) -> BooksOut:
    """Trial balance: every transaction balanced, totals per currency."""
    report = ledger.check_books(session)
    return BooksOut(ok=report.ok, transactions=report.transactions, unbalanced=report.unbalanced, currency_totals=report.currency_totals)
