"""Webhooks: fan-out from the outbox, Standard Webhooks signatures, retries, disabling, redelivery (both backends)."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from webhook_receiver import receiver

from keyrelay import checkout
from keyrelay.audit.models import AuditEntry
from keyrelay.catalog import service as catalog
from keyrelay.catalog.models import Product
from keyrelay.catalog.schemas import ProductIn
from keyrelay.checkout import Terms
from keyrelay.distribution import network, prices
from keyrelay.distribution.models import Distributor
from keyrelay.kit import outbox
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Database
from keyrelay.kit.outbox import OutboxEvent
from keyrelay.kit.vault import Vault
from keyrelay.webhooks import events as _events  # registers the fan-out handlers
from keyrelay.webhooks import rules, service, signing, ssrf
from keyrelay.webhooks.delivery import DeliveryConfig, Job, Outcome, deliver_due, record_outcome
from keyrelay.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

from .network_factories import (
    child_price,
    fast_passwords,
    level_price,
    make_chain,
    make_distributor,
    make_network_product,
    make_operator,
    sell_hosted,
)

__all__ = ["_events", "fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")
LOOPBACK = ssrf.UrlPolicy(allow_private=True)
NOWHERE = "http://127.0.0.1:9/hook"  # discard port: nothing listens, nothing is sent in fan-out tests


@pytest.fixture
def config(vault: Vault) -> DeliveryConfig:
    """Delivery to loopback receivers, no waiting between retries."""
    return DeliveryConfig(vault=vault, policy=LOOPBACK, timeout=5, backoff_scale=0)


def add_endpoint(session: Any, vault: Vault, owner: Distributor, url: str = NOWHERE, events: tuple[str, ...] = ()) -> service.NewSecret:
    return service.create_endpoint(session, user_id=owner.user_id, url=url, event_types=events, vault=vault, policy=LOOPBACK, actor="test")


def drain(db: Database) -> int:
    """One worker pass over the outbox."""
    with db.transaction() as s:
        return outbox.drain(s)


def drain_all(db: Database) -> None:
    while drain(db):
        pass


def deliveries(db: Database, event_type: str | None = None) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).order_by(WebhookDelivery.id)
    if event_type:
        query = query.where(WebhookDelivery.event_type == event_type)
    with db.transaction(write=False) as s:
        return list(s.scalars(query))


def per_endpoint(db: Database, event_type: str) -> Counter[int]:
    return Counter(d.endpoint_id for d in deliveries(db, event_type))


def attempts_of(db: Database, delivery_id: int) -> list[WebhookAttempt]:
    with db.transaction(write=False) as s:
        return list(s.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.id)))


def endpoint_row(db: Database, endpoint_id: int) -> WebhookEndpoint:
    with db.transaction(write=False) as s:
        found = s.get(WebhookEndpoint, endpoint_id)
        assert found is not None
        return found


def make_due(db: Database) -> None:
    """Pretend every scheduled retry is due now."""
    with db.transaction() as s:
        live = WebhookDelivery.next_attempt_at.is_not(None)
        s.execute(update(WebhookDelivery).where(live).values(next_attempt_at=utcnow() - timedelta(seconds=1)))


# --- fan-out ------------------------------------------------------------------------------------


def test_order_events_reach_seller_and_uplines_once_per_subscribed_enabled_endpoint(db: Database, vault: Vault, providers: Terms) -> None:
    with db.transaction() as s:
        op = make_operator(s)
        a1, a2 = make_chain(s, op.id, 2)
        b1 = make_distributor(s, None, operator_id=op.id)
        product = make_network_product(s, vault, keys=10)
        a1_all = add_endpoint(s, vault, a1).endpoint.id
        a2_orders = add_endpoint(s, vault, a2, events=("order.delivered",)).endpoint.id
        add_endpoint(s, vault, a2, events=("stock.changed",))
        add_endpoint(s, vault, b1)  # another branch: hears nothing of A2's sales
        off = add_endpoint(s, vault, a1).endpoint
        service.update_endpoint(
            s, user_id=a1.user_id, public_id=off.public_id, changes=service.EndpointChanges(enabled=False), policy=LOOPBACK, actor="t"
        )
    order = sell_hosted(db, providers, a2, product.id)
    drain_all(db)

    assert per_endpoint(db, "order.delivered") == Counter({a1_all: 1, a2_orders: 1})
    sent = deliveries(db, "order.delivered")
    assert len({d.event_id for d in sent}) == 1  # one event, one msg id for every endpoint
    assert sent[0].event_id.startswith("msg_")
    body = sent[0].payload
    assert body["type"] == "order.delivered"
    assert body["data"]["number"] == order.number
    assert body["data"]["distributor_id"] == a2.id
    assert body["data"]["status"] == "delivered"
    assert "contact" not in body["data"]  # the buyer's e-mail stays out of webhooks
    assert body["timestamp"].endswith("Z")

    with db.transaction() as s:
        checkout.refund(s, flows_order(s, order.number), actor="test", reason="customer complaint")
    drain_all(db)
    assert per_endpoint(db, "order.refunded") == Counter({a1_all: 1})  # a2 subscribed to order.delivered only


def flows_order(session: Any, number: str) -> Any:
    from keyrelay.orders import service as orders

    return orders.get_by_number(session, number)


def test_main_site_orders_notify_nobody(db: Database, vault: Vault, providers: Terms) -> None:
    from factories import place, sandbox_notification

    with db.transaction() as s:
        op = make_operator(s)
        (a1,) = make_chain(s, op.id, 1)
        product = make_network_product(s, vault, keys=3)
        add_endpoint(s, vault, a1, events=("order.delivered",))
        order = place(s, providers, product.id, contact="guest@example.com")
    with db.transaction() as s:
        verdict = checkout.accept_notification(s, provider_name="sandbox", params=sandbox_notification(providers, order), terms=providers)
        assert verdict == "accepted"
    drain_all(db)
    assert deliveries(db, "order.delivered") == []


def test_stock_changed_is_coalesced_per_pass_and_stock_low_fires_on_the_crossing(db: Database, vault: Vault, providers: Terms) -> None:
    with db.transaction() as s:
        op = make_operator(s)
        a1, a2 = make_chain(s, op.id, 2)
        product = make_network_product(s, vault, keys=12)  # low-stock threshold 10
        mine = add_endpoint(s, vault, a1, events=("stock.changed", "stock.low")).endpoint.id
    drain_all(db)
    first = deliveries(db, "stock.changed")
    assert [(d.endpoint_id, d.payload["data"]["in_stock"]) for d in first] == [(mine, 12)]
    assert deliveries(db, "stock.low") == []

    for _ in range(3):
        sell_hosted(db, providers, a2, product.id)
    assert drain(db) >= 3  # three stock.changed events in one pass …
    changed = deliveries(db, "stock.changed")
    assert [d.payload["data"]["in_stock"] for d in changed] == [12, 9]  # … announced once, with the latest count
    low = deliveries(db, "stock.low")
    assert [(d.endpoint_id, d.payload["data"]["in_stock"]) for d in low] == [(mine, 9)]

    sell_hosted(db, providers, a1, product.id)
    drain_all(db)
    assert [d.payload["data"]["in_stock"] for d in deliveries(db, "stock.changed")] == [12, 9, 8]
    assert len(deliveries(db, "stock.low")) == 1  # still low: no new crossing


def test_price_changes_reach_the_distributors_whose_costs_move(db: Database, vault: Vault) -> None:
    with db.transaction() as s:
        op = make_operator(s)
        a1, a2 = make_chain(s, op.id, 2)
        b1 = make_distributor(s, None, operator_id=op.id)
        product = make_network_product(s, vault, keys=0)
        ids = {name: add_endpoint(s, vault, d, events=("price.changed",)).endpoint.id for name, d in (("a1", a1), ("a2", a2), ("b1", b1))}
    drain_all(db)
    name_of = {v: k for k, v in ids.items()}

    def heard() -> list[str]:
        found = sorted(name_of[d.endpoint_id] for d in deliveries(db, "price.changed"))
        with db.transaction() as s:
            s.execute(WebhookDelivery.__table__.delete())
        return found

    with db.transaction() as s:
        level_price(s, 2, s.get(Product, product.id), "markup_pct", 3000)
    drain_all(db)
    sent = deliveries(db, "price.changed")
    assert heard() == ["a2"]  # level 2 and deeper only
    with db.transaction() as s:
        expected_cost = prices.offers(s, s.get(Distributor, a2.id), [s.get(Product, product.id)])[0].cost  # type: ignore[arg-type,list-item]
    assert sent[0].payload["data"]["cost_minor"] == expected_cost
    assert sent[0].payload["data"]["source"] == "level"

    with db.transaction() as s:
        child_price(s, s.get(Distributor, a1.id), s.get(Product, product.id), "markup_pct", 1000)  # type: ignore[arg-type]
    drain_all(db)
    assert heard() == ["a2"]  # a1's children

    with db.transaction() as s:
        level_price(s, 1, None, "markup_pct", 2000)  # a level default: every product, everyone of level ≥ 1
    drain_all(db)
    sent = deliveries(db, "price.changed")
    assert heard() == ["a1", "a2", "b1"]
    assert sent[0].payload["data"]["product_id"] is None

    with db.transaction() as s:
        network.set_status(s, b1.id, "suspended", actor=network.Actor(op.id, "operator"))
        row = s.get(Product, product.id)
        assert row is not None
        data = ProductIn(
            category_id=row.category_id,
            name=row.name,
            slug=row.slug,
            price_minor=row.price_minor + 100,
            supply_price_minor=row.supply_price_minor,
            map_minor=row.map_minor,
            max_per_order=row.max_per_order,
        )
        catalog.update_product(s, row.id, data, actor="test", vault=vault)
    drain_all(db)
    assert heard() == ["a1", "a2"]  # the product's own price: everyone active (b1 is suspended)


def test_product_updates_reach_every_active_distributor_with_its_own_cost(db: Database, vault: Vault) -> None:
    with db.transaction() as s:
        op = make_operator(s)
        a1, a2 = make_chain(s, op.id, 2)
        e1 = add_endpoint(s, vault, a1, events=("product.updated",)).endpoint.id
        e2 = add_endpoint(s, vault, a2, events=("product.updated",)).endpoint.id
        level_price(s, 1, None, "markup_pct", 2000)
        child_price(s, a1, None, "markup_pct", 1000)
        product = make_network_product(s, vault, supply=6000, keys=0)
    drain_all(db)
    by_endpoint = {d.endpoint_id: d.payload["data"] for d in deliveries(db, "product.updated")}
    assert set(by_endpoint) == {e1, e2}
    assert by_endpoint[e1]["change"] == "created"
    assert by_endpoint[e1]["product_id"] == product.id
    assert by_endpoint[e1]["cost_minor"] == 7200  # supply + 20 %
    assert by_endpoint[e2]["cost_minor"] == 7920  # a1's cost + 10 %


# --- signing and sending --------------------------------------------------------------------------


def test_deliveries_are_signed_as_standard_webhooks_verify_them(
    db: Database, vault: Vault, providers: Terms, config: DeliveryConfig
) -> None:
    with receiver() as rx:
        with db.transaction() as s:
            op = make_operator(s)
            (a1,) = make_chain(s, op.id, 1)
            product = make_network_product(s, vault, keys=3)
            made = add_endpoint(s, vault, a1, url=rx.url, events=("order.delivered",))
        order = sell_hosted(db, providers, a1, product.id)
        drain_all(db)
        assert deliver_due(db, config) == 1
        (got,) = rx.wait_for(1)

    assert made.secret.startswith("whsec_")
    assert len(signing._key(made.secret)) == 24
    payload = Webhook(made.secret).verify(got.body, got.headers)
    assert payload["type"] == "order.delivered"
    assert payload["data"]["number"] == order.number
    (sent,) = deliveries(db, "order.delivered")
    assert got.headers["webhook-id"] == sent.event_id
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 30
    assert got.headers["content-type"] == "application/json"
    assert signing.verify(made.secret, got.headers, got.body, now=time.time())  # the hand-written check agrees
    tampered = got.body.replace(order.number.encode(), b"KR000000000000000000")
    with pytest.raises(WebhookVerificationError):
        Webhook(made.secret).verify(tampered, got.headers)
    assert not signing.verify(made.secret, got.headers, tampered, now=time.time())
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(got.body, got.headers)

    (attempt,) = attempts_of(db, sent.id)
    assert (attempt.succeeded, attempt.status_code, attempt.response_excerpt, attempt.error) == (True, 200, "ok", "")
    assert attempt.latency_ms >= 0
    (done,) = deliveries(db, "order.delivered")
    assert (done.status, done.attempts, done.next_attempt_at) == ("succeeded", 1, None)
    assert endpoint_row(db, made.endpoint.id).last_success_at is not None


def test_the_hand_written_check_in_the_docs_verifies_a_real_delivery(db: Database, vault: Vault, config: DeliveryConfig) -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text(encoding="utf-8")
    snippet = next(block for block in re.findall(r"```python\n(.*?)```", guide, re.S) if "def verify(" in block)
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # the documented code, exactly as a reader copies it
    with receiver() as rx:
        with db.transaction() as s:
            op = make_operator(s)
            (a1,) = make_chain(s, op.id, 1)
            made = add_endpoint(s, vault, a1, url=rx.url)
            service.send_test(s, user_id=a1.user_id, public_id=made.endpoint.public_id, actor="t")
        deliver_due(db, config)
        (got,) = rx.wait_for(1)
    assert namespace["verify"](made.secret, got.headers, got.body)
    assert not namespace["verify"](made.secret, got.headers, got.body + b" ")
    assert not namespace["verify"](signing.new_secret(), got.headers, got.body)


def test_rotation_signs_with_old_and_new_secret_during_the_grace_period(db: Database, vault: Vault, config: DeliveryConfig) -> None:
    with receiver() as rx:
        with db.transaction() as s:
            op = make_operator(s)
            (a1,) = make_chain(s, op.id, 1)
            old = add_endpoint(s, vault, a1, url=rx.url)
        with db.transaction() as s:
            new = service.rotate_secret(s, user_id=a1.user_id, public_id=old.endpoint.public_id, vault=vault, actor="test")
            service.send_test(s, user_id=a1.user_id, public_id=old.endpoint.public_id, actor="test")
        deliver_due(db, config)
        with db.transaction() as s:  # the grace period ends
            s.execute(update(WebhookEndpoint).values(previous_secret_expires_at=utcnow() - timedelta(seconds=1)))
            service.send_test(s, user_id=a1.user_id, public_id=old.endpoint.public_id, actor="test")
        deliver_due(db, config)
        during, after = rx.wait_for(2)

    assert new.secret != old.secret
    assert len(during.headers["webhook-signature"].split()) == 2
    for secret in (old.secret, new.secret):
        assert Webhook(secret).verify(during.body, during.headers)["type"] == "webhook.test"
    assert Webhook(new.secret).verify(after.body, after.headers)["type"] == "webhook.test"
    with pytest.raises(WebhookVerificationError):
        Webhook(old.secret).verify(after.body, after.headers)


def test_secrets_are_stored_encrypted(db: Database, vault: Vault) -> None:
    with db.transaction() as s:
        op = make_operator(s)
        (a1,) = make_chain(s, op.id, 1)
        made = add_endpoint(s, vault, a1)
    row = endpoint_row(db, made.endpoint.id)
    assert made.secret.encode() not in row.secret_ciphertext
    assert service.signing_secrets(row, vault, now=utcnow()) == [made.secret]


# --- retries, dying, disabling, redelivery ------------------------------------------------------------


def test_retry_schedule_spans_about_a_day_with_full_jitter() -> None:
    rng = random.Random(20261125)
    assert rules.MAX_ATTEMPTS == 10
    assert 20 * 3600 <= sum(rules.NOMINAL_DELAYS) <= 26 * 3600
    assert list(rules.NOMINAL_DELAYS) == sorted(rules.NOMINAL_DELAYS)  # never shrinking
    for failures, nominal in enumerate(rules.NOMINAL_DELAYS, start=1):
        waits = [rules.retry_delay(failures, rng=rng) for _ in range(4000)]
        assert all(w is not None and 0 <= w <= 2 * nominal for w in waits)
        spread = [w for w in waits if w is not None]
        assert sum(spread) / len(spread) == pytest.approx(nominal, rel=0.06)
        assert min(spread) < 0.1 * nominal
        assert max(spread) > 1.9 * nominal
    assert rules.retry_delay(len(rules.NOMINAL_DELAYS) + 1, rng=rng) is None
    small = rules.retry_delay(9, scale=0.01, rng=rng)
    assert small is not None
    assert small <= 2 * 12 * 3600 * 0.01
    assert rules.retry_delay(3, scale=0) == 0


def test_a_failed_attempt_is_logged_and_retried_on_the_schedule(db: Database, vault: Vault) -> None:
    scheduled = DeliveryConfig(vault=vault, policy=LOOPBACK, timeout=5, backoff_scale=1)
    with receiver([500, 503]) as rx:
        with db.transaction() as s:
            op = make_operator(s)
            (a1,) = make_chain(s, op.id, 1)
            made = add_endpoint(s, vault, a1, url=rx.url)
            delivery_id = service.send_test(s, user_id=a1.user_id, public_id=made.endpoint.public_id, actor="t").id
        assert deliver_due(db, scheduled) == 1
        assert deliver_due(db, scheduled) == 0  # not due yet
        (row,) = deliveries(db)
        (first,) = attempts_of(db, delivery_id)
        assert (row.status, row.retry_step, row.attempts) == ("failed", 1, 1)
        assert row.next_attempt_at is not None
        assert 0 <= (row.next_attempt_at - first.at).total_seconds() <= 10
        assert (first.succeeded, first.status_code, first.error, first.response_excerpt) == (False, 500, "HTTP 500", "receiver says no")

        make_due(db)
        deliver_due(db, scheduled)
        (row,) = deliveries(db)
        second = attempts_of(db, delivery_id)[-1]
        assert (row.status, row.retry_step, second.status_code) == ("failed", 2, 503)
        assert row.next_attempt_at is not None
        assert 0 <= (row.next_attempt_at - second.at).total_seconds() <= 60

        make_due(db)
        deliver_due(db, scheduled)
        got = rx.wait_for(3)
    (row,) = deliveries(db)
    assert (row.status, row.attempts, row.next_attempt_at) == ("succeeded", 3, None)
    assert len({r.headers["webhook-id"] for r in got}) == 1  # every retry is the same message


def test_an_endpoint_failing_through_the_whole_schedule_is_disabled_and_its_owner_told(
    db: Database, vault: Vault, config: DeliveryConfig
) -> None:
    with receiver(then=500) as rx:
        with db.transaction() as s:
            op = make_operator(s)
            (a1,) = make_chain(s, op.id, 1)
            made = add_endpoint(s, vault, a1, url=rx.url)
            delivery_id = service.send_test(s, user_id=a1.user_id, public_id=made.endpoint.public_id, actor="t").id
        for _ in range(rules.MAX_ATTEMPTS):
            assert deliver_due(db, config) == 1
        assert deliver_due(db, config) == 0
        assert len(rx.wait_for(rules.MAX_ATTEMPTS)) == rules.MAX_ATTEMPTS

        (row,) = deliveries(db)
        assert (row.status, row.attempts, row.next_attempt_at) == ("dead", rules.MAX_ATTEMPTS, None)
        endpoint = endpoint_row(db, made.endpoint.id)
        assert (endpoint.enabled, endpoint.disabled_reason) == (False, "persistent_failure")
        with db.transaction(write=False) as s:
            notices = list(s.scalars(select(OutboxEvent).where(OutboxEvent.topic == "webhook.endpoint_disabled")))
            audit = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.endpoint_disabled")))
        assert [n.payload["endpoint_id"] for n in notices] == [made.endpoint.public_id]
        assert notices[0].payload["user_id"] == a1.user_id
        assert [(a.actor, a.target_id) for a in audit] == [("system:webhooks", made.endpoint.public_id)]

        # Disabled: new events skip it, redelivery and tests are refused until the owner re-enables it.
        with db.transaction() as s:
            outbox.emit(s, "product.updated", {"product_id": make_network_product(s, vault, keys=0).id})
        drain_all(db)
        assert len(deliveries(db)) == 1
        with pytest.raises(service.EndpointDisabled), db.transaction() as s:
            service.redeliver(s, user_id=a1.user_id, delivery_id=delivery_id, actor="t")
        rx.then = 200
        with db.transaction() as s:
            changes = service.EndpointChanges(enabled=True)
            service.update_endpoint(s, user_id=a1.user_id, public_id=made.endpoint.public_id, changes=changes, policy=LOOPBACK, actor="t")
            service.redeliver(s, user_id=a1.user_id, delivery_id=delivery_id, actor="t")
        assert deliver_due(db, config) == 1
        rx.wait_for(rules.MAX_ATTEMPTS + 1)
    (row,) = deliveries(db)
    assert (row.status, row.attempts) == ("succeeded", rules.MAX_ATTEMPTS + 1)


def test_a_dead_delivery_does_not_disable_an_endpoint_that_answered_other_deliveries(
    db: Database, vault: Vault, config: DeliveryConfig
) -> None:
    with db.transaction() as s:
        op = make_operator(s)
        (a1,) = make_chain(s, op.id, 1)
        made = add_endpoint(s, vault, a1)
        poison = service.send_test(s, user_id=a1.user_id, public_id=made.endpoint.public_id, actor="t").id
        fine = service.send_test(s, user_id=a1.user_id, public_id=made.endpoint.public_id, actor="t").id

    def outcome(delivery_id: int, ok: bool) -> None:
        job = Job(delivery_id, "msg_x", NOWHERE, (), b"{}")
        with db.transaction() as s:
            record_outcome(s, job, Outcome(ok, 200 if ok else 500), config, now=utcnow())

    outcome(poison, False)
    outcome(fine, True)  # the receiver works, it only rejects this one event
    for _ in range(rules.MAX_ATTEMPTS - 1):
        outcome(poison, False)
    statuses = {d.id: d.status for d in deliveries(db)}
    assert statuses == {poison: "dead", fine: "succeeded"}
    assert endpoint_row(db, made.endpoint.id).enabled


def test_redelivery_sends_the_same_message_again(db: Database, vault: Vault, config: DeliveryConfig) -> None:
    with receiver() as rx:
        with db.transaction() as s:
            op = make_operator(s)
            (a1,) = make_chain(s, op.id, 1)
            made = add_endpoint(s, vault, a1, url=rx.url)
            delivery_id = service.send_test(s, user_id=a1.user_id, public_id=made.endpoint.public_id, actor="t").id
        deliver_due(db, config)
        with db.transaction() as s:
            again = service.redeliver(s, user_id=a1.user_id, delivery_id=delivery_id, actor="t")
            assert (again.status, again.retry_step) == ("pending", 0)
        assert deliver_due(db, config) == 1
        first, second = rx.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    (row,) = deliveries(db)
    assert (row.status, row.attempts) == ("succeeded", 2)
    assert len(attempts_of(db, delivery_id)) == 2


def test_concurrent_workers_send_each_delivery_once(db: Database, vault: Vault, config: DeliveryConfig) -> None:
    with receiver() as rx:
        with db.transaction() as s:
            op = make_operator(s)
            (a1,) = make_chain(s, op.id, 1)
            made = add_endpoint(s, vault, a1, url=rx.url)
            for _ in range(30):
                service.send_test(s, user_id=a1.user_id, public_id=made.endpoint.public_id, actor="t")
        small = DeliveryConfig(vault=vault, policy=LOOPBACK, timeout=5, backoff_scale=0, batch=4, concurrency=2)
        barrier = threading.Barrier(4)

        def work() -> None:
            barrier.wait()
            while deliver_due(db, small):
                pass

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        got = rx.wait_for(30)
        time.sleep(0.2)
    assert len(rx.received) == 30
    assert len({r.headers["webhook-id"] for r in got}) == 30
    assert {d.status for d in deliveries(db)} == {"succeeded"}


def test_deleting_an_endpoint_removes_its_log_and_stops_delivery(db: Database, vault: Vault, config: DeliveryConfig) -> None:
    with db.transaction() as s:
        op = make_operator(s)
        (a1,) = make_chain(s, op.id, 1)
        made = add_endpoint(s, vault, a1)
        service.send_test(s, user_id=a1.user_id, public_id=made.endpoint.public_id, actor="t")
    with db.transaction() as s:
        service.delete_endpoint(s, user_id=a1.user_id, public_id=made.endpoint.public_id, actor="t")
    assert deliveries(db) == []
    assert deliver_due(db, config) == 0
