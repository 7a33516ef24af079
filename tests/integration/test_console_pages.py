"""Operator console pages over HTTP: session cookie, CSRF, forms, key import and reveal, language.

Drives the real app (``create_app``) with FastAPI's TestClient against both
database backends; state is checked through the services, not the HTML alone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from factories import PASSWORD, make_category, make_product, make_stocked_product, make_user, place
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from keyrelay.app import create_app
from keyrelay.audit import service as audit
from keyrelay.catalog import service as catalog
from keyrelay.checkout import Terms
from keyrelay.config import Settings
from keyrelay.identity import service as identity
from keyrelay.inventory import service as inventory
from keyrelay.kit.db import Database
from keyrelay.web.auth import SESSION_COOKIE
from keyrelay.web.console.session import csrf_token

from .support import stock

OPERATOR = "op@example.com"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{32})"')


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """A browser-like client on a fresh app; ``db`` empties the tables afterwards."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def operator_id(db: Database) -> int:
    with db.transaction() as session:
        return make_user(session, role="operator", email=OPERATOR).id


def login(client: TestClient) -> str:
    """Sign in as the operator; return the CSRF token the console's forms carry."""
    reply = client.post("/admin/login", data={"email": OPERATOR, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return csrf_of(reply.text)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "page has no CSRF field"
    return found.group(1)


def product_in(session: Session, settings: Settings) -> int:
    return make_product(session, settings.vault).id


def test_console_pages_need_a_session(client: TestClient) -> None:
    reply = client.get("/admin/products?status=x", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/admin/login?next=%2Fadmin%2Fproducts%3Fstatus%3Dx"
    assert client.get("/admin/login").status_code == 200


def test_wrong_password_is_a_readable_message_without_a_cookie(client: TestClient, operator_id: int) -> None:
    reply = client.post("/admin/login", data={"email": OPERATOR, "password": "not-the-password"})
    assert reply.status_code == 401
    assert "Wrong e-mail or password." in reply.text
    assert SESSION_COOKIE not in reply.cookies


def test_login_sets_a_strict_httponly_cookie_and_opens_the_dashboard(client: TestClient, operator_id: int, settings: Settings) -> None:
    reply = client.post("/admin/login", data={"email": OPERATOR, "password": PASSWORD, "next": "/admin/orders"}, follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/admin/orders"
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert f"max-age={settings.jwt_ttl_seconds}" in cookie
    assert "secure" not in cookie  # plain http here; https requests get Secure
    page = client.get("/admin")
    assert page.status_code == 200
    assert "Orders today" in page.text
    assert 'data-testid="stats"' in page.text


def test_login_ignores_an_absolute_next(client: TestClient, operator_id: int) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        reply = client.post("/admin/login", data={"email": OPERATOR, "password": PASSWORD, "next": target}, follow_redirects=False)
        assert reply.headers["location"] == "/admin"


def test_a_non_operator_gets_403(client: TestClient, db: Database, settings: Settings) -> None:
    with db.transaction() as session:
        buyer = make_user(session, role="buyer")
    token = identity.issue_token(buyer, secret=client.app.state.keyrelay.jwt_secret, ttl_seconds=settings.jwt_ttl_seconds)  # type: ignore[attr-defined]
    client.cookies.set(SESSION_COOKIE, token)
    reply = client.get("/admin")
    assert reply.status_code == 403
    assert "cannot open the operator console" in reply.text


def test_an_old_session_is_renewed_while_the_operator_works(client: TestClient, db: Database, settings: Settings) -> None:
    with db.transaction() as session:
        operator = make_user(session, role="operator", email=OPERATOR)
    secret = client.app.state.keyrelay.jwt_secret  # type: ignore[attr-defined]
    old = identity.issue_token(operator, secret=secret, ttl_seconds=settings.jwt_ttl_seconds // 3)
    client.cookies.set(SESSION_COOKIE, old)
    reply = client.get("/admin/categories")
    assert reply.status_code == 200
    renewed = reply.cookies.get(SESSION_COOKIE)
    assert renewed
    assert renewed != old
    assert csrf_of(reply.text) == csrf_token(secret, renewed)  # the page's forms are signed for the new cookie


def test_category_and_product_are_created_through_the_forms(client: TestClient, operator_id: int, db: Database) -> None:
    csrf = login(client)
    bad = client.post("/admin/categories", data={"csrf": csrf, "name": "Games", "slug": "Not A Slug", "is_active": "on"})
    assert bad.status_code == 422
    assert 'data-testid="error-slug"' in bad.text
    created = client.post("/admin/categories", data={"csrf": csrf, "name": "Games", "slug": "games", "is_active": "on"})
    assert created.status_code == 200
    with db.transaction(write=False) as session:
        [category] = catalog.list_categories(session, active_only=False)
    assert (category.name, category.slug, category.is_active) == ("Games", "games", True)

    form = {"csrf": csrf, "category_id": str(category.id), "name": "Steam 50", "slug": "steam-50", "kind": "card_key", "currency": "CNY"}
    too_precise = client.post("/admin/products", data={**form, "price": "19.999", "is_active": "on"})
    assert too_precise.status_code == 422
    assert 'data-testid="error-price"' in too_precise.text
    saved = client.post("/admin/products", data={**form, "price": "19.99", "max_per_order": "5", "is_active": "on"}, follow_redirects=False)
    assert saved.status_code == 303
    with db.transaction(write=False) as session:
        [product] = catalog.list_products(session, active_only=False)
    assert (product.name, product.price_minor, product.max_per_order, product.is_active) == ("Steam 50", 1999, 5, True)
    assert saved.headers["location"] == f"/admin/products/{product.id}?done=created"


def test_pasted_keys_are_counted_and_duplicates_reported_by_line(
    client: TestClient, operator_id: int, db: Database, settings: Settings
) -> None:
    with db.transaction() as session:
        product_id = product_in(session, settings)
    csrf = login(client)
    first = client.post(f"/admin/products/{product_id}/keys", data={"csrf": csrf, "text": "AAAA-1\nBBBB-2\nAAAA-1\nCCCC-3\n"})
    assert first.status_code == 201
    assert "Imported 3 key(s)." in first.text
    assert re.search(r'data-testid="duplicate-lines">Line numbers: 3<', first.text)
    again = client.post(f"/admin/products/{product_id}/keys", data={"csrf": csrf, "text": "DDDD-4\nBBBB-2\n"})
    assert "Imported 1 key(s)." in again.text
    assert re.search(r'data-testid="duplicate-lines">Line numbers: 2<', again.text)
    assert stock(db, product_id)["available"] == 4


def test_an_invalid_line_rejects_the_whole_batch_and_names_the_line(
    client: TestClient, operator_id: int, db: Database, settings: Settings
) -> None:
    with db.transaction() as session:
        product_id = product_in(session, settings)
    csrf = login(client)
    reply = client.post(f"/admin/products/{product_id}/keys", data={"csrf": csrf, "text": "GOOD-1\nGOOD-2\nBAD\x01KEY\nGOOD-3\n"})
    assert reply.status_code == 422
    assert "Nothing was imported." in reply.text
    assert "Line 3: contains control characters" in reply.text
    assert "BAD" not in reply.text.split('data-testid="invalid-lines"')[1].split("</ul>")[0]  # the key itself is not echoed
    assert stock(db, product_id)["available"] == 0


def test_an_uploaded_csv_file_is_imported(client: TestClient, operator_id: int, db: Database, settings: Settings) -> None:
    with db.transaction() as session:
        product_id = product_in(session, settings)
    csrf = login(client)
    reply = client.post(
        f"/admin/products/{product_id}/keys", data={"csrf": csrf}, files={"file": ("keys.csv", b"id,key\n1,CSV-1\n2,CSV-2\n", "text/csv")}
    )
    assert reply.status_code == 201
    assert "Imported 2 key(s)." in reply.text
    binary = client.post(
        f"/admin/products/{product_id}/keys", data={"csrf": csrf}, files={"file": ("keys.txt", b"\x00\x01\x02", "text/plain")}
    )
    assert binary.status_code == 422
    assert "not a text file" in binary.text
    assert stock(db, product_id)["available"] == 2


def test_reveal_shows_the_key_once_and_writes_an_audit_row(client: TestClient, operator_id: int, db: Database, settings: Settings) -> None:
    with db.transaction() as session:
        product_id = product_in(session, settings)
    csrf = login(client)
    client.post(f"/admin/products/{product_id}/keys", data={"csrf": csrf, "text": "SECRET-KEY-0001\n"})
    with db.transaction(write=False) as session:
        [key] = inventory.list_keys(session, product_id=product_id)
    detail = client.get(f"/admin/products/{product_id}")
    assert "SECRET-KEY-0001" not in detail.text
    reply = client.post(f"/admin/products/{product_id}/keys/{key.id}/reveal", data={"csrf": csrf})
    assert reply.status_code == 200
    assert "SECRET-KEY-0001" in reply.text
    assert reply.headers["cache-control"] == "no-store"
    with db.transaction(write=False) as session:
        [entry] = audit.recent(session, action="key.reveal")
    assert (entry.actor, entry.target_type, entry.target_id) == (f"user:{operator_id}", "card_key", str(key.id))


def test_a_post_without_the_csrf_token_is_403_and_changes_nothing(client: TestClient, operator_id: int, db: Database) -> None:
    csrf = login(client)
    with db.transaction() as session:
        category_id = make_category(session, name="Before").id
    for token in ("", "0" * 32):
        reply = client.post(f"/admin/categories/{category_id}", data={"csrf": token, "name": "After", "slug": "after", "is_active": "on"})
        assert reply.status_code == 403
        assert "This form has expired" in reply.text
    with db.transaction(write=False) as session:
        assert catalog.get_category(session, category_id).name == "Before"
        assert audit.recent(session, action="category.update") == []
    ok = client.post(f"/admin/categories/{category_id}", data={"csrf": csrf, "name": "After", "slug": "after", "is_active": "on"})
    assert ok.status_code == 200
    with db.transaction(write=False) as session:
        assert catalog.get_category(session, category_id).name == "After"


def test_pages_speak_chinese_when_asked(client: TestClient, operator_id: int) -> None:
    login_page = client.get("/admin/login?lang=zh_CN")
    assert "运营后台登录" in login_page.text
    assert '<html lang="zh-' in login_page.text
    login(client)
    dashboard = client.get("/admin")  # the language cookie set above sticks
    assert "今日订单" in dashboard.text
    assert "概览" in dashboard.text
    assert "Orders today" not in dashboard.text


def test_wallet_credit_and_user_creation(client: TestClient, operator_id: int, db: Database) -> None:
    csrf = login(client)
    created = client.post("/admin/users", data={"csrf": csrf, "email": "shop@example.com", "password": "long-enough-pw", "role": "buyer"})
    assert created.status_code == 200
    assert "shop@example.com" in created.text
    credited = client.post("/admin/wallets", data={"csrf": csrf, "user": "shop@example.com", "amount": "12.50", "currency": "CNY"})
    assert credited.status_code == 200
    assert "New balance: ¥12.50." in credited.text
    unknown = client.post("/admin/wallets", data={"csrf": csrf, "user": "nobody@example.com", "amount": "1", "currency": "CNY"})
    assert unknown.status_code == 404
    assert "No user has this e-mail address." in unknown.text
    with db.transaction(write=False) as session:
        [entry] = audit.recent(session, action="wallet.credit")
    assert (entry.actor, entry.target_type) == (f"user:{operator_id}", "user")
    assert entry.detail["amount_minor"] == 1250
    assert entry.detail["currency"] == "CNY"
    assert str(entry.detail["ref"]).startswith("credit-")


def test_an_unknown_order_is_a_readable_404(client: TestClient, operator_id: int) -> None:
    login(client)
    reply = client.get("/admin/orders/NOPE")
    assert reply.status_code == 404
    assert 'data-testid="console-error"' in reply.text


def test_orders_are_filtered_and_a_pending_one_can_be_cancelled(
    client: TestClient, operator_id: int, db: Database, settings: Settings, providers: Terms
) -> None:
    with db.transaction() as session:
        product = make_stocked_product(session, settings.vault, 3)
        order = place(session, providers, product.id, 2, contact="buyer@example.com")
    csrf = login(client)
    listed = client.get("/admin/orders", params={"status": "pending_payment", "contact": "buyer@example.com"})
    assert order.number in listed.text
    assert order.number not in client.get("/admin/orders", params={"status": "delivered"}).text
    detail = client.get(f"/admin/orders/{order.number}")
    assert 'data-testid="cancel-order"' in detail.text
    assert stock(db, product.id) == {"available": 1, "reserved": 2, "sold": 0}
    cancelled = client.post(f"/admin/orders/{order.number}/cancel", data={"csrf": csrf}, follow_redirects=False)
    assert cancelled.status_code == 303
    assert stock(db, product.id) == {"available": 3, "reserved": 0, "sold": 0}
    again = client.post(f"/admin/orders/{order.number}/cancel", data={"csrf": csrf})
    assert again.status_code == 409  # a cancelled order cannot be cancelled twice: readable page, nothing changed
    assert 'data-testid="console-error"' in again.text


def test_failed_events_are_listed_and_can_be_retried(client: TestClient, operator_id: int, db: Database) -> None:
    from sqlalchemy import update

    from keyrelay.kit import outbox
    from keyrelay.kit.outbox import OutboxTask

    topic = f"test.console.{uuid.uuid4().hex[:8]}"
    outbox.subscribe(f"{topic}.never", topic)(lambda _s, _p: (_ for _ in ()).throw(RuntimeError("receiver gone")))
    with db.transaction() as s:
        outbox.emit(s, topic, {"n": 1})
    with db.transaction() as s:
        outbox.drain(s)
        s.execute(update(OutboxTask).where(OutboxTask.subscriber == f"{topic}.never").values(status="dead", attempts=outbox.MAX_ATTEMPTS))
    login(client)
    page = client.get("/admin/events")
    assert page.status_code == 200
    assert topic in page.text
    assert "receiver gone" in page.text
    retried = client.post("/admin/events/retry", data={"task": "all", "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert retried.status_code == 303
    with db.transaction(write=False) as s:
        assert outbox.dead_count(s) == 0
