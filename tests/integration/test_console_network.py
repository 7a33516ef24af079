"""Operator console pages for the network and its money: tree and statuses, invites, level prices,
withdrawal queue, statements and trial balance, refunds and manual delivery from the order page.
"""

from __future__ import annotations

import re

import pytest
from factories import PASSWORD, make_product, sandbox_notification, unique
from fastapi.testclient import TestClient
from sqlalchemy import select

from keyrelay import checkout
from keyrelay.checkout import Terms
from keyrelay.config import Settings
from keyrelay.distribution import network
from keyrelay.distribution.models import LevelPrice
from keyrelay.kit.db import Database
from keyrelay.ledger import service as ledger
from keyrelay.ledger import withdrawals
from keyrelay.orders.models import Order

from .support import audit_trail, order_row
from .test_distributor_console import CUR, Scene, balances, build_scene, client, fast_passwords, sell_on_subsite, sign_in, top_up

__all__ = ["client", "fast_passwords"]


def _status(db: Database, distributor_id: int) -> str:
    with db.transaction(write=False) as session:
        return network.get(session, distributor_id).status


def _request_withdrawal(db: Database, user_id: int, amount: int) -> int:
    with db.transaction() as session:
        return withdrawals.request(session, user_id=user_id, amount_minor=amount, currency=CUR, payee="Alipay x", minimum=1000).id


def _withdrawal(db: Database, withdrawal_id: int) -> withdrawals.Withdrawal:
    with db.transaction(write=False) as session:
        return withdrawals.get(session, withdrawal_id)


def test_the_tree_shows_both_branches_and_statuses_change_from_it(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    csrf = sign_in(client, "op", area="admin")
    page = client.get("/admin/network")
    assert page.status_code == 200
    tree = page.text.split('data-testid="tree"')[1].split("</table>")[0]
    assert [name for name in ("Lucky", "Moon", "Sun", "Star") if name in tree] == ["Lucky", "Moon", "Sun", "Star"]
    assert tree.index("Lucky") < tree.index("Moon") < tree.index("Sun") < tree.index("Star")  # parents before children

    suspended = client.post(
        f"/admin/network/{scene.moon.id}/status", data={"csrf": csrf, "action": "suspend", "reason": "chargebacks"}, follow_redirects=False
    )
    assert suspended.status_code == 303
    assert _status(db, scene.moon.id) == "suspended"
    closed = client.get("/s/moon")
    assert closed.status_code == 403
    assert "This shop is closed" in closed.text
    twice = client.post(f"/admin/network/{scene.moon.id}/status", data={"csrf": csrf, "action": "suspend"})
    assert twice.status_code == 409  # already suspended: a readable problem, nothing changed
    assert 'data-testid="problem"' in twice.text
    assert _status(db, scene.moon.id) == "suspended"
    forged = client.post(f"/admin/network/{scene.moon.id}/status", data={"csrf": "", "action": "reinstate"})
    assert forged.status_code == 403
    assert _status(db, scene.moon.id) == "suspended"
    reinstated = client.post(f"/admin/network/{scene.moon.id}/status", data={"csrf": csrf, "action": "reinstate"}, follow_redirects=False)
    assert reinstated.status_code == 303
    assert _status(db, scene.moon.id) == "active"
    assert client.get("/s/moon").status_code == 200


def test_a_pending_distributor_is_approved(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    csrf = sign_in(client, "op", area="admin")
    made = client.post(
        "/admin/network/invites",
        data={"csrf": csrf, "parent_id": str(scene.sun.id), "max_uses": "1", "ttl_hours": "48", "requires_approval": "on"},
    )
    assert made.status_code == 200
    code = re.search(r'value="[^"]*/join/([^"]+)" onfocus', made.text)
    assert code
    joined = client.post(
        f"/join/{code.group(1)}", data={"email": "comet@example.com", "password": PASSWORD, "name": "Comet", "slug": "comet"}
    )
    assert joined.status_code == 201
    with db.transaction(write=False) as session:
        comet = network.get_by_slug(session, "comet")
    assert (comet.parent_id, comet.level, comet.status) == (scene.sun.id, 2, "pending")
    assert client.get("/s/comet").status_code == 403
    approved = client.post(
        f"/admin/network/{comet.id}/status", data={"csrf": csrf, "action": "approve", "reason": "checked"}, follow_redirects=False
    )
    assert approved.status_code == 303
    assert _status(db, comet.id) == "active"
    assert client.get("/s/comet").status_code == 200


def test_invites_for_level_1_and_too_deep(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    csrf = sign_in(client, "op", area="admin")
    top = client.post("/admin/network/invites", data={"csrf": csrf, "parent_id": "", "max_uses": "3", "ttl_hours": "72"})
    assert top.status_code == 200
    code = re.search(r'value="[^"]*/join/([^"]+)" onfocus', top.text)
    assert code
    with db.transaction(write=False) as session:
        [invite] = network.recent_invites(session, limit=1)
    assert (invite.code, invite.distributor_id, invite.max_uses) == (code.group(1), None, 3)
    # Level 3 is the deepest: a level-3 distributor cannot get children.
    with db.transaction() as session:
        deep_code = network.create_invite(
            session, network.Actor(scene.moon.user_id, "distributor"), parent_id=scene.moon.id, max_depth=3
        ).code
        deep = network.join(session, network.JoinRequest(deep_code, "deep@example.com", PASSWORD, "Deep", "deep"), max_depth=3)
    too_deep = client.post("/admin/network/invites", data={"csrf": csrf, "parent_id": str(deep.id), "max_uses": "1", "ttl_hours": "72"})
    assert too_deep.status_code == 422
    assert "The network is at most 3 levels deep." in too_deep.text
    bad = client.post("/admin/network/invites", data={"csrf": csrf, "parent_id": "", "max_uses": "many", "ttl_hours": "72"})
    assert bad.status_code == 422
    assert 'data-testid="error-max_uses"' in bad.text


def test_level_prices_are_set_from_decimals_and_explained(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    csrf = sign_in(client, "op", area="admin")
    form = {"csrf": csrf, "level": "1", "product_id": str(scene.product_id), "rule": "fixed"}
    below = client.post("/admin/level-prices", data={**form, "value": "59.99"})
    assert below.status_code == 422
    assert "A level price may not be below the supply price." in below.text
    garbled = client.post("/admin/level-prices", data={**form, "value": "6o"})
    assert garbled.status_code == 422
    assert 'data-testid="error-value"' in garbled.text
    assert client.post("/admin/level-prices", data={**form, "value": "64.50"}, follow_redirects=False).status_code == 303
    pct = client.post(
        "/admin/level-prices", data={**form, "level": "2", "product_id": "", "rule": "markup_pct", "value": "12.5%"}, follow_redirects=False
    )
    assert pct.status_code == 303
    with db.transaction(write=False) as session:
        rows = {(r.level, r.product_id, r.rule, r.value) for r in session.scalars(select(LevelPrice))}
    assert rows == {(1, None, "markup_pct", 1000), (1, scene.product_id, "fixed", 6450), (2, None, "markup_pct", 1250)}
    listed = client.get("/admin/level-prices")
    assert "fixed price ¥64.50" in listed.text
    assert "supply price + 12.5%" in listed.text
    explained = client.get("/admin/level-prices/explain", params={"distributor_id": scene.star.id, "product_id": scene.product_id})
    assert explained.status_code == 200
    chain = explained.text.split('data-testid="chain"')[1].split("</table>")[0]
    assert "¥64.50" in chain  # sun: the level-1 product price
    assert "¥67.50" in chain  # star: level-2 default, 60.00 + 12.5 %


def test_withdrawals_are_approved_paid_or_rejected(client: TestClient, db: Database, settings: Settings) -> None:
    scene = build_scene(db, settings)
    top_up(db, scene.moon.user_id, 10000)
    first = _request_withdrawal(db, scene.moon.user_id, 3000)
    second = _request_withdrawal(db, scene.moon.user_id, 2000)
    assert balances(db, scene.moon.user_id) == ledger.WalletSummary(CUR, 5000, 0, 5000)
    csrf = sign_in(client, "op", area="admin")
    queue = client.get("/admin/withdrawals")
    assert "moon@example.com" in queue.text
    assert f'data-testid="approve-{first}"' in queue.text

    early = client.post(f"/admin/withdrawals/{first}/paid", data={"csrf": csrf, "reference": "BANK-1"})
    assert early.status_code == 409  # approve first
    assert _withdrawal(db, first).status == "requested"
    assert client.post(f"/admin/withdrawals/{first}/approve", data={"csrf": csrf}).status_code == 200
    no_ref = client.post(f"/admin/withdrawals/{first}/paid", data={"csrf": csrf, "reference": " "})
    assert no_ref.status_code == 422
    assert "Enter the payout reference." in no_ref.text
    assert _withdrawal(db, first).status == "approved"
    paid = client.post(f"/admin/withdrawals/{first}/paid", data={"csrf": csrf, "reference": "BANK-1"}, follow_redirects=False)
    assert paid.status_code == 303
    assert (_withdrawal(db, first).status, _withdrawal(db, first).reference) == ("paid", "BANK-1")
    assert balances(db, scene.moon.user_id) == ledger.WalletSummary(CUR, 5000, 0, 2000)

    rejected = client.post(f"/admin/withdrawals/{second}/reject", data={"csrf": csrf, "note": "wrong account"}, follow_redirects=False)
    assert rejected.status_code == 303
    assert (_withdrawal(db, second).status, _withdrawal(db, second).note) == ("rejected", "wrong account")
    assert balances(db, scene.moon.user_id) == ledger.WalletSummary(CUR, 7000, 0, 0)
    assert "BANK-1" in client.get("/admin/withdrawals", params={"status": "paid"}).text
    with db.transaction(write=False) as session:
        assert ledger.check_books(session).ok
    by = f"user:{scene.operator_id}"
    moon = {"user_id": scene.moon.user_id, "currency": CUR}
    assert audit_trail(db, "withdrawal", first) == [
        ("withdrawal.approve", by, "testclient", {**moon, "amount_minor": 3000}),
        ("withdrawal.mark_paid", by, "testclient", {**moon, "amount_minor": 3000, "reference": "BANK-1"}),
    ]
    assert audit_trail(db, "withdrawal", second) == [
        ("withdrawal.reject", by, "testclient", {**moon, "amount_minor": 2000, "note": "wrong account"}),
    ]
    audit_page = client.get("/admin/audit", params={"action": "withdrawal.mark_paid"})
    assert audit_page.status_code == 200
    assert "reference=BANK-1" in audit_page.text
    assert 'value="withdrawal.reject"' in audit_page.text  # offered in the filter


def test_books_show_the_trial_balance_and_statements(client: TestClient, db: Database, settings: Settings, providers: Terms) -> None:
    scene = build_scene(db, settings)
    sell_on_subsite(db, providers, scene.moon, scene.product_id)
    sign_in(client, "op", area="admin")
    books = client.get("/admin/books")
    trial = books.text.split('data-testid="trial-balance"')[1]
    assert f"pending:user:{scene.moon.user_id}" in trial
    assert "¥30.70" in trial
    statement = client.get("/admin/books/statement", params={"user": "moon@example.com", "account": "pending"})
    assert statement.status_code == 200
    assert "¥30.70" in statement.text.split('data-testid="statement"')[1]
    missing = client.get("/admin/books/statement", params={"user": "nobody@example.com"})
    assert missing.status_code == 404
    assert 'data-testid="error-user"' in missing.text
    assert client.get("/admin/books/statement", params={"user": "9" * 25}).status_code == 404


def _pending(db: Database, scene: Scene) -> tuple[int, int]:
    return balances(db, scene.lucky.user_id).pending, balances(db, scene.moon.user_id).pending


def test_a_refund_from_the_order_page_reverses_the_whole_split(
    client: TestClient, db: Database, settings: Settings, providers: Terms
) -> None:
    scene = build_scene(db, settings)
    order = sell_on_subsite(db, providers, scene.moon, scene.product_id)
    assert _pending(db, scene) == (330, 3070)
    csrf = sign_in(client, "op", area="admin")
    detail = client.get(f"/admin/orders/{order.number}")
    assert 'data-testid="refund-form"' in detail.text
    no_reason = client.post(f"/admin/orders/{order.number}/refund", data={"csrf": csrf, "reason": ""})
    assert no_reason.status_code == 422
    assert "Say why the order is refunded." in no_reason.text
    assert order_row(db, order.number).status == "delivered"
    done = client.post(
        f"/admin/orders/{order.number}/refund", data={"csrf": csrf, "reason": "buyer could not redeem"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert order_row(db, order.number).status == "refunded"
    assert _pending(db, scene) == (0, 0)
    with db.transaction(write=False) as session:
        assert ledger.check_books(session).ok
    after = client.get(f"/admin/orders/{order.number}?done=refunded")
    assert 'data-testid="refund-form"' not in after.text
    again = client.post(f"/admin/orders/{order.number}/refund", data={"csrf": csrf, "reason": "twice"})
    assert again.status_code == 409
    assert 'data-testid="problem"' in again.text


def test_a_paid_manual_order_is_delivered_from_its_page(client: TestClient, db: Database, settings: Settings, providers: Terms) -> None:
    build_scene(db, settings)
    with db.transaction() as session:
        product = make_product(session, settings.vault, kind="manual", price_minor=500)
        request = checkout.PlaceOrder(product_id=product.id, quantity=1, contact=f"{unique('b')}@example.com", payment_provider="sandbox")
        order = checkout.place_order(session, request, terms=providers)
    with db.transaction() as session:
        assert (
            checkout.accept_notification(session, provider_name="sandbox", params=sandbox_notification(providers, order), terms=providers)
            == "accepted"
        )
    assert order_row(db, order.number).status == "paid"
    csrf = sign_in(client, "op", area="admin")
    assert 'data-testid="deliver-form"' in client.get(f"/admin/orders/{order.number}").text
    empty = client.post(f"/admin/orders/{order.number}/deliver", data={"csrf": csrf, "content": "  "})
    assert empty.status_code == 422
    assert 'data-testid="error-content"' in empty.text
    assert order_row(db, order.number).status == "paid"
    done = client.post(
        f"/admin/orders/{order.number}/deliver", data={"csrf": csrf, "content": "ACCOUNT: x\nPASS: y"}, follow_redirects=False
    )
    assert done.status_code == 303
    delivered = order_row(db, order.number)
    assert delivered.status == "delivered"
    with db.transaction() as session:
        content = checkout.delivered_content(session, session.get(Order, delivered.id), vault=settings.vault, actor="test")  # type: ignore[arg-type]
    assert content.items == ["ACCOUNT: x", "PASS: y"]


def test_network_pages_speak_chinese(client: TestClient, db: Database, settings: Settings) -> None:
    build_scene(db, settings)
    sign_in(client, "op", area="admin")
    for path, word in (("/admin/network", "分销商"), ("/admin/level-prices", "等级价"), ("/admin/withdrawals?lang=zh_CN", "提现")):
        page = client.get(path + ("" if "lang=" in path else "?lang=zh_CN"))
        assert word in page.text, path


@pytest.mark.parametrize("path", ["/admin/network", "/admin/level-prices", "/admin/withdrawals", "/admin/books/statement"])
def test_network_pages_need_an_operator(client: TestClient, db: Database, settings: Settings, path: str) -> None:
    build_scene(db, settings)
    assert client.get(path, follow_redirects=False).status_code == 303
    sign_in(client, "moon")
    assert client.get(path).status_code == 403
