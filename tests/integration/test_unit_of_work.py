"""One transaction per request (``web/uow.py``), reads that never write, and the nonce's own transaction.

Both backends. The unit-of-work checks run throw-away routes on the real app,
so the answer a client gets is the one the app's error handlers give.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from factories import PASSWORD, unique
from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from keyrelay.app import create_app
from keyrelay.audit.models import AuditEntry
from keyrelay.audit.service import record
from keyrelay.config import Settings
from keyrelay.identity import api_keys
from keyrelay.identity import service as identity
from keyrelay.kit.db import Database
from keyrelay.kit.errors import Conflict
from keyrelay.ledger.models import Account, Withdrawal
from keyrelay.web.state import state_of
from keyrelay.web.uow import UNITS_OF_WORK, ReadSession, WriteSession

from .network_factories import fast_passwords, make_distributor, make_operator, top_up
from .support import count, statements_during

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")
API = "/api/v1"


def _mark(session: Session, tag: str) -> None:
    record(session, actor="test", action="uow.test", target_type="tag", target_id=tag)


def _marks(db: Database, tag: str) -> int:
    return count(db, AuditEntry, AuditEntry.action == "uow.test", AuditEntry.target_id == tag)


def _refuse_commit(session: Session, *_: Any) -> None:
    raise RuntimeError("the database refused the commit")


def _add_probe_routes(app: FastAPI) -> None:
    def write_then_return(tag: str, session: WriteSession) -> dict[str, str]:
        _mark(session, tag)
        return {"tag": tag}

    def write_then_refuse(tag: str, session: WriteSession) -> dict[str, str]:
        _mark(session, tag)
        session.flush()  # the row is in the database, inside the open transaction
        raise Conflict("refused after writing")

    def write_then_commit_fails(tag: str, session: WriteSession) -> dict[str, str]:
        _mark(session, tag)
        event.listen(session, "before_commit", _refuse_commit)
        return {"tag": tag}

    def read(tag: str, session: ReadSession) -> dict[str, int]:
        found = session.scalars(select(AuditEntry).where(AuditEntry.action == "uow.test", AuditEntry.target_id == tag)).all()
        return {"seen": len(found)}

    def _request_scoped(request: Request) -> Iterator[Session]:  # what FastAPI does by default: exit after the response
        with state_of(request).db.transaction() as session:
            yield session

    def commit_fails_after_the_response(tag: str, session: Session = Depends(_request_scoped)) -> dict[str, str]:
        _mark(session, tag)
        event.listen(session, "before_commit", _refuse_commit)
        return {"tag": tag}

    app.add_api_route("/uow-probe/ok/{tag}", write_then_return, methods=["POST"])
    app.add_api_route("/uow-probe/refused/{tag}", write_then_refuse, methods=["POST"])
    app.add_api_route("/uow-probe/commit-fails/{tag}", write_then_commit_fails, methods=["POST"])
    app.add_api_route("/uow-probe/request-scoped/{tag}", commit_fails_after_the_response, methods=["POST"])
    app.add_api_route("/uow-probe/read/{tag}", read, methods=["GET"])


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    app = create_app(settings)
    _add_probe_routes(app)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_handler_that_returns_commits_and_the_next_request_sees_it(client: TestClient, db: Database) -> None:
    tag = unique("ok")
    reply = client.post(f"/uow-probe/ok/{tag}")
    assert reply.status_code == 200, reply.text
    assert client.get(f"/uow-probe/read/{tag}").json() == {"seen": 1}
    assert _marks(db, tag) == 1


def test_a_domain_error_after_writing_answers_the_error_and_keeps_nothing(client: TestClient, db: Database) -> None:
    tag = unique("refused")
    reply = client.post(f"/uow-probe/refused/{tag}")
    assert reply.status_code == 409, reply.text
    assert reply.json()["code"] == "conflict"
    assert client.get(f"/uow-probe/read/{tag}").json() == {"seen": 0}
    assert _marks(db, tag) == 0


def test_a_failing_commit_is_an_error_answer_never_a_success(client: TestClient, db: Database) -> None:
    tag = unique("commit")
    reply = client.post(f"/uow-probe/commit-fails/{tag}")
    assert reply.status_code == 500, "the commit runs before the response is sent, so its failure is the answer"
    assert reply.json()["code"] == "internal_error"
    assert _marks(db, tag) == 0


def test_why_scope_function_fastapis_default_commits_after_the_answer_is_out(client: TestClient, db: Database) -> None:
    """Pins the reason for ``scope="function"``: with the default scope the client is told 200 for a change that was lost."""
    tag = unique("late")
    reply = client.post(f"/uow-probe/request-scoped/{tag}")
    assert reply.status_code == 200
    assert _marks(db, tag) == 0


def test_every_route_takes_at_most_one_unit_of_work_and_closes_it_before_answering(client: TestClient) -> None:
    def units(dependant: Any) -> list[Any]:
        here = [dependant] if dependant.call in UNITS_OF_WORK else []
        return here + [u for sub in dependant.dependencies for u in units(sub)]

    using = 0
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        found = units(route.dependant)
        assert len(found) <= 1, f"{context.path} takes two units of work: two transactions"
        assert all(u.scope == "function" for u in found), context.path
        using += bool(found)
    assert using > 40


# --- reads never write ----------------------------------------------------------------------


@contextmanager
def writes_during(db: Database) -> Iterator[Counter[str]]:
    """INSERT/UPDATE/DELETE statements the app sends while the block runs (reads send none), counted when it ends."""
    seen: Counter[str] = Counter()
    with statements_during(db) as statements:
        yield seen
    for statement in statements:
        verb = statement.split(None, 1)[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            seen[f"{verb} {statement.split()[2] if verb != 'UPDATE' else statement.split()[1]}"] += 1


def test_wallet_reads_of_a_user_without_accounts_create_none_and_write_nothing(client: TestClient, db: Database) -> None:
    """API and both consoles: an absent account reads as 0 and an empty statement; no row appears."""
    with db.transaction() as s:
        op = make_operator(s)
        shop = make_distributor(s, None, operator_id=op.id, email=f"{unique('shop')}@example.com")
        user = identity.get_user(s, shop.user_id)
        operator = identity.get_user(s, op.id)
        secret = client.app.state.keyrelay.jwt_secret  # type: ignore[attr-defined]
        as_shop = {"Authorization": f"Bearer {identity.issue_token(user, secret=secret, ttl_seconds=600)}"}
        as_op = {"Authorization": f"Bearer {identity.issue_token(operator, secret=secret, ttl_seconds=600)}"}
        emails = (user.email, operator.email)
    app_db: Database = client.app.state.keyrelay.db  # type: ignore[attr-defined]
    assert count(db, Account) == 0
    api_reads = [
        (f"{API}/me/wallet", as_shop),
        (f"{API}/distributor/wallet", as_shop),
        (f"{API}/distributor/wallet/statement", as_shop),
        (f"{API}/distributor/wallet/statement?account=pending", as_shop),
        (f"{API}/admin/accounts/{shop.user_id}", as_op),
        (f"{API}/admin/accounts/{shop.user_id}/statement", as_op),
        (f"{API}/admin/accounts/{shop.user_id}/statement?account=pending", as_op),
    ]
    with writes_during(app_db) as writes:
        for url, headers in api_reads:
            reply = client.get(url, headers=headers)
            assert reply.status_code == 200, (url, reply.text)
            body = reply.json()
            assert body == [] or (body.get("balance_minor", 0) == 0 and body.get("available_minor", 0) == 0), (url, body)
    assert not writes, writes
    assert client.post("/distributor/login", data={"email": emails[0], "password": PASSWORD}).status_code == 200
    with writes_during(app_db) as writes:
        for page in ("/distributor", "/distributor/wallet", "/distributor/wallet?account=pending", "/distributor/buy"):
            assert client.get(page).status_code == 200, page
    assert not writes, writes
    client.cookies.clear()
    assert client.post("/admin/login", data={"email": emails[1], "password": PASSWORD}).status_code == 200
    with writes_during(app_db) as writes:
        for account in ("available", "pending"):
            assert client.get("/admin/books/statement", params={"user": emails[0], "account": account}).status_code == 200
    assert not writes, writes
    assert count(db, Account) == 0


# --- the nonce stays spent when the work fails ----------------------------------------------


def _signed(client: TestClient, key: api_keys.NewKey, method: str, path: str, body: bytes, nonce: str, stamp: str) -> Any:
    signature = api_keys.sign(key.secret, api_keys.canonical_request(method, path, stamp, nonce, body))
    headers = {"X-Key-Id": key.key.key_id, "X-Timestamp": stamp, "X-Nonce": nonce, "X-Signature": signature}
    return client.request(method, path, content=body, headers={**headers, "content-type": "application/json"})


def test_a_replayed_nonce_is_refused_even_when_the_first_request_failed(client: TestClient, db: Database, settings: Settings) -> None:
    """The nonce is not part of the work's transaction: a payout refused for want of money cannot be replayed after a top-up."""
    with db.transaction() as s:
        shop = make_distributor(s, None, operator_id=make_operator(s).id)
        key = api_keys.create(s, user_id=shop.user_id, name="money", scopes=["money:write"], vault=settings.vault)
    path, stamp, nonce = f"{API}/distributor/withdrawals", str(int(time.time())), uuid.uuid4().hex
    body = b'{"amount_minor": 5000, "payee": "bank"}'
    first = _signed(client, key, "POST", path, body, nonce, stamp)
    assert first.status_code == 409, first.text  # the withdrawal row was written, then the wallet leg refused: rolled back
    assert first.json()["code"] == "insufficient_balance"
    with db.transaction() as s:
        top_up(s, shop.user_id, 10_000)
    replay = _signed(client, key, "POST", path, body, nonce, stamp)
    assert replay.status_code == 401, replay.text
    assert replay.json()["code"] == "replayed_nonce"
    assert count(db, Withdrawal) == 0


# --- routes that spend the nonce in their one transaction (``spends_nonce_in_work``) ---------------


def _known_key(client: TestClient, db: Database, settings: Settings, scopes: list[str]) -> tuple[Any, api_keys.NewKey]:
    """A funded distributor's key, used once so this process knows it (its next purchase or payout defers the nonce)."""
    with db.transaction() as s:
        shop = make_distributor(s, None, operator_id=make_operator(s).id)
        key = api_keys.create(s, user_id=shop.user_id, name="known", scopes=scopes, vault=settings.vault)
    warm = _signed(client, key, "GET", f"{API}/distributor/wallet", b"", uuid.uuid4().hex, str(int(time.time())))
    assert warm.status_code == 200, warm.text
    assert state_of_client(client).known_keys.get(key.key.key_id, now=time.time()) is not None
    return shop, key


def state_of_client(client: TestClient) -> Any:
    return client.app.state.keyrelay  # type: ignore[attr-defined]


def test_a_known_keys_refused_payout_keeps_its_nonce_spent(client: TestClient, db: Database, settings: Settings) -> None:
    """The nonce rolls back with the work, then is spent again at once: a top-up does not make the captured request replayable."""
    shop, key = _known_key(client, db, settings, ["money:write", "catalog:read"])
    path, stamp, nonce = f"{API}/distributor/withdrawals", str(int(time.time())), uuid.uuid4().hex
    body = b'{"amount_minor": 5000, "payee": "bank"}'
    first = _signed(client, key, "POST", path, body, nonce, stamp)
    assert (first.status_code, first.json()["code"]) == (409, "insufficient_balance"), first.text
    with db.transaction() as s:
        top_up(s, shop.user_id, 10_000)
    replay = _signed(client, key, "POST", path, body, nonce, stamp)
    assert (replay.status_code, replay.json()["code"]) == (401, "replayed_nonce"), replay.text
    assert count(db, Withdrawal) == 0


def test_a_known_keys_refusal_is_the_answer_its_idempotency_key_replays(client: TestClient, db: Database, settings: Settings) -> None:
    """Work refused: everything rolled back, and the refusal stored for the key, so a retry (freshly signed) gets the same answer."""
    shop, key = _known_key(client, db, settings, ["money:write", "catalog:read"])
    path, body, idem = f"{API}/distributor/withdrawals", b'{"amount_minor": 5000, "payee": "bank"}', uuid.uuid4().hex

    def send() -> Any:
        signature_headers = _signed_headers(key, "POST", path, body)
        return client.post(path, content=body, headers={**signature_headers, "Idempotency-Key": idem, "content-type": "application/json"})

    first = send()
    assert (first.status_code, first.json()["code"]) == (409, "insufficient_balance"), first.text
    with db.transaction() as s:
        top_up(s, shop.user_id, 10_000)
    retry = send()
    assert retry.status_code == 409, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.content == first.content
    assert count(db, Withdrawal) == 0


def _signed_headers(key: api_keys.NewKey, method: str, path: str, body: bytes) -> dict[str, str]:
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex
    signature = api_keys.sign(key.secret, api_keys.canonical_request(method, path, stamp, nonce, body))
    return {"X-Key-Id": key.key.key_id, "X-Timestamp": stamp, "X-Nonce": nonce, "X-Signature": signature}


def test_a_known_key_revoked_or_disabled_is_refused_in_the_works_transaction(client: TestClient, db: Database, settings: Settings) -> None:
    """This process remembers the key, but the purchase's transaction re-reads revoked/is_active: nothing is sold."""
    for change in ("revoke", "disable"):
        shop, key = _known_key(client, db, settings, ["money:write", "catalog:read"])
        with db.transaction() as s:
            if change == "revoke":
                api_keys.revoke(s, user_id=shop.user_id, key_id=key.key.key_id)
            else:
                identity.get_user(s, shop.user_id).is_active = False
        path, body = f"{API}/distributor/withdrawals", b'{"amount_minor": 5000, "payee": "bank"}'
        refused = client.post(path, content=body, headers={**_signed_headers(key, "POST", path, body), "content-type": "application/json"})
        assert (refused.status_code, refused.json()["code"]) == (401, "key_revoked"), refused.text
        assert state_of_client(client).known_keys.get(key.key.key_id, now=time.time()) is None, "forgotten at once"
    assert count(db, Withdrawal) == 0


def test_a_known_keys_request_refused_before_its_work_still_spends_the_nonce(client: TestClient, db: Database, settings: Settings) -> None:
    """A body that fails validation (422) never reaches the work's transaction; its nonce is spent after, all the same."""
    _shop, key = _known_key(client, db, settings, ["money:write", "catalog:read"])
    path, stamp, nonce = f"{API}/distributor/withdrawals", str(int(time.time())), uuid.uuid4().hex
    body = b'{"amount_minor": "lots", "payee": "bank"}'
    first = _signed(client, key, "POST", path, body, nonce, stamp)
    assert first.status_code == 422, first.text
    replay = _signed(client, key, "POST", path, body, nonce, stamp)
    assert (replay.status_code, replay.json()["code"]) == (401, "replayed_nonce"), replay.text
