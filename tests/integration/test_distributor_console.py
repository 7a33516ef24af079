"""Distributor console pages over HTTP: sign-in, branch scoping, prices, invites, buying, money, language.

Drives the real app with FastAPI's TestClient on both database backends; every
outcome is checked through the services (what was stored), not the HTML alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher
from factories import PASSWORD, import_keys, make_product, make_user, sandbox_notification, unique
from fastapi.testclient import TestClient
from sqlalchemy import select

from keyrelay import checkout
from keyrelay.app import create_app
from keyrelay.catalog import service as catalog
from keyrelay.checkout import Terms
from keyrelay.config import Settings
from keyrelay.distribution import network, prices
from keyrelay.distribution.models import ChildPrice, Distributor, RetailPrice
from keyrelay.kit.db import Database
from keyrelay.ledger import service as ledger
from keyrelay.orders.models import Order

from .support import stock

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{32})"')
CUR = "CNY"
_cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 for the accounts made here (verification reads the parameters from the hash)."""
    monkeypatch.setattr("keyrelay.identity.service.hash_password", _cheap.hash)


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@dataclass(frozen=True)
class Scene:
    """Two branches under the platform: lucky (L1) → moon (L2), and sun (L1) → star (L2).

    One card-key product: supply ¥60.00, main price ¥100.00, MAP ¥90.00, ceiling
    MAP + 30 % = ¥117.00. Level 1 pays supply + 10 % (¥66.00); lucky charges its
    children + 5 % (moon pays ¥69.30); star has no parent rule, so the level-2
    list (+ 20 %, ¥72.00) applies.
    """

    operator_id: int
    product_id: int
    lucky: Distributor
    moon: Distributor
    sun: Distributor
    star: Distributor


def _join(db: Database, parent: Distributor | None, operator_id: int, name: str, *, approval: bool = False) -> Distributor:
    with db.transaction() as session:
        actor = network.Actor(operator_id, "operator") if parent is None else network.Actor(parent.user_id, "distributor")
        code = network.create_invite(session, actor, parent_id=parent.id if parent else None, requires_approval=approval, max_depth=3).code
        request = network.JoinRequest(code=code, email=f"{name}@example.com", password=PASSWORD, name=name.title(), slug=name)
        return network.join(session, request, max_depth=3)


def build_scene(db: Database, settings: Settings, *, keys: int = 10) -> Scene:
    with db.transaction() as session:
        operator_id = make_user(session, role="operator", email="op@example.com").id
        product = make_product(
            session,
            settings.vault,
            price_minor=10000,
            supply_price_minor=6000,
            map_minor=9000,
            max_markup_bp=3000,
            max_per_order=100,
        )
        product.supplier_id = make_user(session, role="supplier").id
        import_keys(session, settings.vault, product.id, keys)
        for level, markup in ((1, 1000), (2, 2000)):
            prices.set_level_price(session, level=level, product=None, rule="markup_pct", value=markup, max_depth=3, actor="test")
        product_id = product.id
    lucky = _join(db, None, operator_id, "lucky")
    moon = _join(db, lucky, operator_id, "moon")
    sun = _join(db, None, operator_id, "sun")
    star = _join(db, sun, operator_id, "star")
    with db.transaction() as session:
        prices.set_child_price(session, lucky, product=None, rule="markup_pct", value=500, actor="test")
    return Scene(operator_id, product_id, lucky, moon, sun, star)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, who: str, *, area: str = "distributor") -> str:
    """Sign in at ``/<area>/login``; return the CSRF token the area's forms carry."""
    reply = client.post(f"/{area}/login", data={"email": f"{who}@example.com", "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return csrf_of(reply.text)


def top_up(db: Database, user_id: int, amount: int) -> None:
    with db.transaction() as session:
        ledger.credit_wallet(session, user_id=user_id, amount_minor=amount, currency=CUR, ref=unique("topup"))


def buy_wholesale(db: Database, providers: Terms, buyer: Distributor, product_id: int, quantity: int = 1) -> Order:
    with db.transaction() as session:
        request = checkout.PlaceOrder(
            product_id=product_id,
            quantity=quantity,
            contact=f"{buyer.slug}@example.com",
            payment_provider="balance",
            buyer_user_id=buyer.user_id,
            seller_id=buyer.id,
            wholesale=True,
        )
        return checkout.place_order(session, request, terms=providers)


def sell_on_subsite(db: Database, providers: Terms, seller: Distributor, product_id: int) -> Order:
    """A buyer checks out on ``seller``'s sub-site and the sandbox gateway confirms the payment."""
    with db.transaction() as session:
        request = checkout.PlaceOrder(
            product_id=product_id, quantity=1, contact=f"{unique('buyer')}@example.com", payment_provider="sandbox", seller_id=seller.id
        )
        order = checkout.place_order(session, request, terms=providers)
    with db.transaction() as session:
        verdict = checkout.accept_notification(
            session, provider_name="sandbox", params=sandbox_notification(providers, order), terms=providers
        )
        assert verdict == "accepted"
        paid = session.get(Order, order.id)
        assert paid is not None
        return paid


def balances(db: Database, user_id: int) -> ledger.WalletSummary:
    with db.transaction() as session:
        return ledger.wallet_summary(session, user_id, CUR)


def retail_of(db: Database, seller: Distributor, product_id: int) -> int | None:
    with db.transaction(write=False) as session:
        return session.scalar(
            select(RetailPrice.price_minor).where(RetailPrice.distributor_id == seller.id, RetailPrice.product_id == product_id)
        )


# --- signing in -------------------------------------------------------------------------------


def test_distributor_signs_in_and_sees_its_dashboard(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    first = client.get("/distributor/orders", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/distributor/login?next=%2Fdistributor%2Forders"
    wrong = client.post("/distributor/login", data={"email": "moon@example.com", "password": "not-the-password"})
    assert wrong.status_code == 401
    assert "Wrong e-mail or password." in wrong.text
    operator = client.post("/distributor/login", data={"email": "op@example.com", "password": PASSWORD})
    assert operator.status_code == 403
    assert "not a distributor account" in operator.text

    reply = client.post(
        "/distributor/login",
        data={"email": "moon@example.com", "password": PASSWORD, "next": "/distributor/orders"},
        follow_redirects=False,
    )
    assert reply.status_code == 303
    assert reply.headers["location"] == "/distributor/orders"
    assert "httponly" in reply.headers["set-cookie"].lower()
    dashboard = client.get("/distributor")
    assert dashboard.status_code == 200
    assert scene.moon.name in dashboard.text
    assert 'data-testid="money"' in dashboard.text
    assert 'data-testid="status-banner"' not in dashboard.text
    assert client.get("/admin").status_code == 403  # a distributor session does not open the operator console


def test_a_pending_distributor_sees_the_banner(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    _join(db, scene.lucky, scene.operator_id, "comet", approval=True)
    sign_in(client, "comet")
    page = client.get("/distributor")
    assert 'data-testid="status-banner"' in page.text
    assert "waiting for the operator" in page.text


# --- branch scoping ---------------------------------------------------------------------------


def test_another_branch_is_invisible_to_a_level_2_distributor(
    client: TestClient, db: Database, settings: Settings, providers: Terms
) -> None:
    scene = build_scene(db, settings)
    for who in (scene.moon, scene.star):
        top_up(db, who.user_id, 10000)
    mine = buy_wholesale(db, providers, scene.moon, scene.product_id)
    theirs = buy_wholesale(db, providers, scene.star, scene.product_id)

    sign_in(client, "moon")
    listed = client.get("/distributor/orders")
    assert mine.number in listed.text
    assert theirs.number not in listed.text
    assert client.get(f"/distributor/orders/{mine.number}").status_code == 200
    hidden = client.get(f"/distributor/orders/{theirs.number}")
    assert hidden.status_code == 404
    assert 'data-testid="console-error"' in hidden.text
    # Naming the other branch in the filters shows nothing either.
    assert theirs.number not in client.get("/distributor/orders", params={"distributor_id": scene.star.id}).text
    assert client.get(f"/distributor/prices/{scene.product_id}/explain", params={"distributor_id": scene.star.id}).status_code == 404
    assert client.get(f"/distributor/prices/{scene.product_id}/explain", params={"distributor_id": scene.lucky.id}).status_code == 404
    network_page = client.get("/distributor/network")
    assert scene.star.name not in network_page.text
    assert scene.sun.name not in network_page.text
    # Numbers beyond the 64-bit id columns are "no such id", never a database error.
    huge = "9" * 25
    assert client.get("/distributor/orders", params={"distributor_id": huge, "channel_id": huge, "before_id": huge}).status_code == 200
    assert client.get(f"/distributor/prices/{huge}/explain").status_code == 422
    assert client.get(f"/distributor/prices/{scene.product_id}/explain", params={"distributor_id": huge}).status_code == 200


def test_a_parent_sees_its_childs_orders_but_not_their_keys(client: TestClient, db: Database, settings: Settings, providers: Terms) -> None:
    scene = build_scene(db, settings)
    top_up(db, scene.moon.user_id, 10000)
    childs = buy_wholesale(db, providers, scene.moon, scene.product_id)
    csrf = sign_in(client, "lucky")
    assert childs.number in client.get("/distributor/orders", params={"distributor_id": scene.moon.id}).text
    detail = client.get(f"/distributor/orders/{childs.number}")
    assert detail.status_code == 200
    assert 'data-testid="reveal-keys"' not in detail.text
    reveal = client.post(f"/distributor/orders/{childs.number}/reveal", data={"csrf": csrf})
    assert 'data-testid="revealed-keys"' not in reveal.text  # keys are for the buyer only


# --- prices -----------------------------------------------------------------------------------


def test_retail_below_map_is_refused_with_a_readable_message(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    csrf = sign_in(client, "moon")
    page = client.get("/distributor/prices")
    assert "¥69.30" in page.text  # moon's cost: 60.00 + 10 % + 5 %
    too_low = client.post(f"/distributor/prices/{scene.product_id}", data={"csrf": csrf, "price": "85.00"})
    assert too_low.status_code == 422
    assert 'data-testid="error-price"' in too_low.text
    assert "Retail may not be below the minimum advertised price (¥90.00)." in too_low.text
    assert retail_of(db, scene.moon, scene.product_id) is None
    garbled = client.post(f"/distributor/prices/{scene.product_id}", data={"csrf": csrf, "price": "9o"})
    assert garbled.status_code == 422
    assert "Enter an amount like 19.99." in garbled.text
    too_high = client.post(f"/distributor/prices/{scene.product_id}", data={"csrf": csrf, "price": "120"})
    assert too_high.status_code == 422
    assert "(¥117.00)" in too_high.text
    saved = client.post(f"/distributor/prices/{scene.product_id}", data={"csrf": csrf, "price": "95.50"}, follow_redirects=False)
    assert saved.status_code == 303
    assert retail_of(db, scene.moon, scene.product_id) == 9550


def test_price_explanation_shows_the_chain_and_the_split(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    sign_in(client, "lucky")
    own = client.get(f"/distributor/prices/{scene.product_id}/explain")
    assert own.status_code == 200
    assert 'data-testid="chain"' in own.text
    child = client.get(f"/distributor/prices/{scene.product_id}/explain", params={"distributor_id": scene.moon.id})
    assert child.status_code == 200
    chain = child.text.split('data-testid="chain"')[1].split("</table>")[0]
    assert "¥66.00" in chain  # lucky
    assert "¥69.30" in chain  # moon
    split = child.text.split('data-testid="split"')[1].split("</table>")[0]
    for share in ("¥60.00", "¥6.00", "¥3.30", "¥30.70", "¥100.00"):  # supplier, platform, lucky, moon, total
        assert share in split


def test_a_childs_price_below_my_own_cost_is_refused(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    csrf = sign_in(client, "lucky")
    before = client.get("/distributor/child-prices")
    assert before.status_code == 200
    below = client.post(
        "/distributor/child-prices", data={"csrf": csrf, "product_id": str(scene.product_id), "rule": "fixed", "value": "65.00"}
    )
    assert below.status_code == 422
    assert "may not be below your own cost (¥66.00)" in below.text
    bad_percent = client.post("/distributor/child-prices", data={"csrf": csrf, "product_id": "", "rule": "markup_pct", "value": "ten"})
    assert bad_percent.status_code == 422
    assert 'data-testid="error-value"' in bad_percent.text
    with db.transaction(write=False) as session:
        rules = {(r.product_id, r.rule, r.value) for r in session.scalars(select(ChildPrice).where(ChildPrice.parent_id == scene.lucky.id))}
    assert rules == {(None, "markup_pct", 500)}  # only the rule from the scene
    ok = client.post(
        "/distributor/child-prices",
        data={"csrf": csrf, "product_id": str(scene.product_id), "rule": "markup_pct", "value": "12.5"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    with db.transaction(write=False) as session:
        moon_cost = prices.cost_steps(session, network.get(session, scene.moon.id), catalog.get_product(session, scene.product_id))[-1].cost
    assert moon_cost == 7425  # 66.00 + 12.5 %


# --- network, channels, site --------------------------------------------------------------------


def test_an_invite_is_shown_to_copy_and_redeemable(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    csrf = sign_in(client, "lucky")
    bad = client.post("/distributor/invites", data={"csrf": csrf, "max_uses": "0", "ttl_hours": "72"})
    assert bad.status_code == 422
    assert 'data-testid="error-max_uses"' in bad.text
    made = client.post("/distributor/invites", data={"csrf": csrf, "max_uses": "2", "ttl_hours": "24"})
    assert made.status_code == 200
    link = re.search(r'data-testid="invite-link"', made.text) and re.search(r'value="(http[^"]+/join/([^"]+))"', made.text)
    assert link, made.text
    code = link.group(2)
    assert client.get(f"/join/{code}").status_code == 200
    joined = client.post(f"/join/{code}", data={"email": "nova@example.com", "password": PASSWORD, "name": "Nova", "slug": "nova"})
    assert joined.status_code == 201
    with db.transaction(write=False) as session:
        nova = network.get_by_slug(session, "nova")
    assert (nova.parent_id, nova.level, nova.status) == (scene.lucky.id, 2, "active")
    assert "Nova" in client.get("/distributor/network").text


def test_channels_and_sub_site_settings(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    csrf = sign_in(client, "moon")
    assert client.post("/distributor/channels", data={"csrf": csrf, "name": "", "kind": "taobao"}).status_code == 422
    assert client.post("/distributor/channels", data={"csrf": csrf, "name": "Taobao shop", "kind": "taobao"}).status_code == 200
    again = client.post("/distributor/channels", data={"csrf": csrf, "name": "Taobao shop", "kind": "other"})
    assert again.status_code == 409
    assert "You already have a channel with this name." in again.text
    bad_host = client.post("/distributor/site", data={"csrf": csrf, "name": "Moon", "host": "not a host"})
    assert bad_host.status_code == 422
    assert 'data-testid="error-host"' in bad_host.text
    saved = client.post("/distributor/site", data={"csrf": csrf, "name": "Moon Shop", "notice": "Hello", "contact": "qq 123"})
    assert saved.status_code == 200
    assert 'href="/s/moon"' in saved.text
    with db.transaction(write=False) as session:
        moon = network.get(session, scene.moon.id)
    assert (moon.name, moon.notice, moon.contact) == ("Moon Shop", "Hello", "qq 123")


# --- buying and money -------------------------------------------------------------------------


def test_a_wholesale_purchase_shows_the_keys_once_and_debits_the_balance(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    top_up(db, scene.moon.user_id, 10000)
    csrf = sign_in(client, "moon")
    assert "¥100.00" in client.get("/distributor/buy").text
    bought = client.post(
        "/distributor/buy", data={"csrf": csrf, "product_id": str(scene.product_id), "quantity": "1", "declared_retail": "95"}
    )
    assert bought.status_code == 200, bought.text
    assert bought.headers["cache-control"] == "no-store"
    keys = re.findall(r"<li><code>([^<]+)</code></li>", bought.text.split('data-testid="keys"')[1])
    assert len(keys) == 1
    assert balances(db, scene.moon.user_id).available == 10000 - 6930
    assert stock(db, scene.product_id)["sold"] == 1
    number = re.search(r'data-testid="order-number">([A-Z0-9-]+)<', bought.text)
    assert number
    detail = client.get(f"/distributor/orders/{number.group(1)}")
    assert keys[0] not in detail.text  # masked until asked for again
    again = client.post(f"/distributor/orders/{number.group(1)}/reveal", data={"csrf": csrf})
    assert keys[0] in again.text
    assert again.headers["cache-control"] == "no-store"


def test_a_purchase_above_the_balance_is_refused_and_changes_nothing(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    top_up(db, scene.moon.user_id, 10000)
    csrf = sign_in(client, "moon")
    refused = client.post("/distributor/buy", data={"csrf": csrf, "product_id": str(scene.product_id), "quantity": "2"})
    assert refused.status_code == 409
    assert "Your balance is too low" in refused.text
    assert 'data-testid="keys"' not in refused.text
    assert balances(db, scene.moon.user_id).available == 10000
    assert stock(db, scene.product_id) == {"available": 10, "reserved": 0, "sold": 0}
    zero = client.post("/distributor/buy", data={"csrf": csrf, "product_id": str(scene.product_id), "quantity": "x"})
    assert zero.status_code == 422
    assert 'data-testid="error-quantity"' in zero.text


def test_a_withdrawal_request_locks_the_amount(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    top_up(db, scene.moon.user_id, 5000)
    csrf = sign_in(client, "moon")
    for amount, shown in (
        ("12.505", "Too many decimal places"),
        ("-3", "Enter an amount like 19.99."),
        ("5", "The minimum withdrawal is ¥10.00."),
    ):
        bad = client.post("/distributor/withdrawals", data={"csrf": csrf, "amount": amount, "payee": "Alipay moon"})
        assert bad.status_code == 422, amount
        assert shown in bad.text
    too_much = client.post("/distributor/withdrawals", data={"csrf": csrf, "amount": "50.01", "payee": "Alipay moon"})
    assert too_much.status_code == 409
    assert 'data-testid="error-amount"' in too_much.text
    assert balances(db, scene.moon.user_id) == ledger.WalletSummary(CUR, 5000, 0, 0)
    ok = client.post("/distributor/withdrawals", data={"csrf": csrf, "amount": "12.50", "payee": "Alipay moon"}, follow_redirects=False)
    assert ok.status_code == 303
    assert balances(db, scene.moon.user_id) == ledger.WalletSummary(CUR, 3750, 0, 1250)
    wallet = client.get("/distributor/wallet")
    assert "¥12.50" in wallet.text.split('data-testid="withdrawals"')[1]


def test_a_post_without_the_csrf_token_is_403_and_changes_nothing(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    sign_in(client, "moon")
    for token in ("", "0" * 32):
        reply = client.post(f"/distributor/prices/{scene.product_id}", data={"csrf": token, "price": "95.00"})
        assert reply.status_code == 403
        assert "This form has expired" in reply.text
    assert retail_of(db, scene.moon, scene.product_id) is None


def test_pages_speak_chinese_when_asked(client: TestClient, db: Database, settings: Settings) -> None:
    build_scene(db, settings)
    login_page = client.get("/distributor/login?lang=zh_CN")
    assert "分销商登录" in login_page.text
    sign_in(client, "moon")
    for path, words in (
        ("/distributor", ("佣金", "可提现")),
        ("/distributor/prices", ("成本价", "零售价")),
        ("/distributor/wallet", ("提现",)),
    ):
        page = client.get(path)
        for word in words:
            assert word in page.text, (path, word)
    assert "My prices" not in client.get("/distributor").text
