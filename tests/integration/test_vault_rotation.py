"""Vault key rotation re-encrypts every registered sealed column; with the old key retired, everything still opens."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from factories import import_keys, key_secrets, make_product, make_stocked_product, make_user, place, sandbox_notification
from sqlalchemy import select, update
from typer.testing import CliRunner

from keyrelay import checkout, cli
from keyrelay.audit import service as audit
from keyrelay.catalog import service as catalog
from keyrelay.checkout import Terms
from keyrelay.config import Settings
from keyrelay.identity import api_keys
from keyrelay.inventory import service as inventory
from keyrelay.inventory.models import CardKey
from keyrelay.kit import idempotency
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Database
from keyrelay.kit.sealed import SealedColumn
from keyrelay.kit.vault import UnknownKeyError, Vault, VaultKey, format_vault_keys, generate_vault_key, parse_vault_keys
from keyrelay.kit.vault_rotation import ColumnCounts, RotationError, _reseal, rotate
from keyrelay.orders import service as orders
from keyrelay.sealing import all_columns
from keyrelay.webhooks import service as webhooks
from keyrelay.webhooks import ssrf

from .network_factories import fast_passwords

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")
K2 = generate_vault_key("k2")
REPLAYED_BODY = '{"keys":["IDEMPOTENT-SECRET"]}'


def _k1(settings: Settings) -> VaultKey:
    [k1] = parse_vault_keys(settings.vault_keys)
    return k1


def _fingerprint_key(settings: Settings) -> bytes:
    # Rotation changes the encryption keys only: duplicate detection must keep matching old keys.
    return settings.derived_key(b"fingerprint")


def _vaults(settings: Settings) -> tuple[Vault, Vault, Vault]:
    """(old key only, new key active + old for reading, new key only: the old one retired)."""
    fp = _fingerprint_key(settings)
    return Vault([_k1(settings)], fp), Vault([K2, _k1(settings)], fp), Vault([K2], fp)


def _rotate(db: Database, vault: Vault, *, batch: int = 1000) -> dict[str, ColumnCounts]:
    return {c.name: c for c in rotate(db, vault, all_columns(), batch=batch)}


def _total(counts: dict[str, ColumnCounts]) -> tuple[int, int]:
    return sum(c.scanned for c in counts.values()), sum(c.reencrypted for c in counts.values())


def _key_ids(db: Database, sealed: SealedColumn) -> list[str]:
    """The key id of every sealed value of one column, in primary-key order."""
    with db.transaction(write=False) as s:
        stored = s.scalars(select(sealed.columns[1]).where(sealed.columns[1].is_not(None)).order_by(sealed.columns[0]))
        blobs = [sealed.load(value) for value in stored]
    return [Vault.key_id_of(blob) for blob in blobs if blob is not None]


def test_rotation_reencrypts_everything_under_the_new_key(db: Database, settings: Settings, providers: Terms) -> None:
    old, both, new_only = _vaults(settings)
    secrets = key_secrets(7, prefix="ROTATE")
    with db.transaction() as s:
        product = make_product(s, old)
        fixed = make_product(s, old, kind="fixed", fixed_content="https://example.com/dl?code=FIXED")
        import_keys(s, old, product.id, secrets)
        sold = place(s, providers, product.id, 2)
    with db.transaction() as s:
        params = sandbox_notification(providers, sold)
        assert checkout.accept_notification(s, provider_name="sandbox", params=params, terms=providers) == "accepted"

    counts = _rotate(db, both, batch=3)  # several batches
    assert _total(counts) == (8, 8)  # 7 keys + 1 fixed content
    assert (counts["inventory.card_keys.ciphertext"].scanned, counts["catalog.products.fixed_content"].scanned) == (7, 1)
    assert _total(_rotate(db, both)) == (8, 0)  # idempotent

    with db.transaction() as s:
        keys = inventory.list_keys(s, product_id=product.id)
        revealed = sorted(inventory.reveal_key(s, key_id=k.id, vault=new_only, actor="user:1").secret for k in keys)
        order = orders.get_by_number(s, sold.number)
        delivered = checkout.delivered_content(s, order, vault=new_only, actor="buyer:test").items
        fixed_product = catalog.get_product(s, fixed.id)
        assert fixed_product.fixed_content is not None
        assert Vault.key_id_of(fixed_product.fixed_content) == "k2"
    assert revealed == sorted(secrets)
    assert len(delivered) == 2
    assert set(delivered) <= set(secrets)

    # Same fingerprint key: re-importing the same secrets after rotation still finds them all.
    with db.transaction() as s:
        again = import_keys(s, new_only, product.id, secrets)
    assert (again.imported, again.duplicates) == (0, 7)

    with db.transaction(write=False) as s, pytest.raises(UnknownKeyError):
        inventory.reveal_key(s, key_id=keys[0].id, vault=old, actor="user:1")  # k1 alone can no longer read them


def test_every_reveal_is_audited(db: Database, settings: Settings, vault: Vault, providers: Terms) -> None:
    with db.transaction() as s:
        product_id = make_stocked_product(s, vault, 3).id
        order = place(s, providers, product_id, 2)
    with db.transaction() as s:
        params = sandbox_notification(providers, order)
        checkout.accept_notification(s, provider_name="sandbox", params=params, terms=providers)
    with db.transaction() as s:
        checkout.delivered_content(s, orders.get_by_number(s, order.number), vault=vault, actor="buyer:me", ip="198.51.100.7")
        [unsold] = inventory.list_keys(s, product_id=product_id, status="available")
        inventory.reveal_key(s, key_id=unsold.id, vault=vault, actor="user:1")
    with db.transaction(write=False) as s:
        entries = audit.recent(s, action="key.reveal")
    by_target = {(e.target_type, e.actor, e.ip) for e in entries}
    assert by_target == {("order", "buyer:me", "198.51.100.7"), ("card_key", "user:1", "")}
    [order_reveal] = [e for e in entries if e.target_type == "order"]
    assert order_reveal.target_id == str(order.id)
    assert len(order_reveal.detail["key_ids"]) == 2


@dataclass
class Everything:
    """One of every sealed thing, sealed under the old key, and what each should open to."""

    card_key_secrets: list[str]
    fixed_product_id: int
    manual_order_number: str
    api_key: api_keys.NewKey
    webhook_user_id: int
    webhook_public_id: str
    webhook_secrets: tuple[str, str]
    """(current, previous)."""
    idempotency_owner: str


def _seal_everything(db: Database, old: Vault, providers: Terms) -> Everything:
    secrets = key_secrets(3, prefix="EVERY")
    with db.transaction() as s:
        import_keys(s, old, make_product(s, old).id, secrets)
        fixed = make_product(s, old, kind="fixed", fixed_content="https://example.com/dl?code=EVERY")
        manual = place(s, providers, make_product(s, old, kind="manual").id, 1)
        owner = make_user(s, role="distributor")
        key = api_keys.create(s, user_id=owner.id, name="sync", scopes=["catalog:read"], vault=old)
        first = webhooks.create_endpoint(
            s, user_id=owner.id, url="http://127.0.0.1:9/hook", vault=old, policy=ssrf.UrlPolicy(allow_private=True), actor="test"
        )
    with db.transaction() as s:
        checkout.accept_notification(s, provider_name="sandbox", params=sandbox_notification(providers, manual), terms=providers)
        rotated = webhooks.rotate_secret(s, user_id=owner.id, public_id=first.endpoint.public_id, vault=old, actor="test")
    with db.transaction() as s:
        checkout.deliver_manually(s, orders.get_by_number(s, manual.number), content="acct-1 / pw-1", vault=old, actor="user:1")
        claimed = idempotency.claim(s, owner=f"key:{key.key.key_id}", key="idem-1", fingerprint="f" * 64)
        assert isinstance(claimed, int)
        sealed = idempotency.seal_body(old, owner=f"key:{key.key.key_id}", key="idem-1", body=REPLAYED_BODY)
        idempotency.complete(s, claimed, status=201, body=sealed)
    return Everything(
        card_key_secrets=secrets,
        fixed_product_id=fixed.id,
        manual_order_number=manual.number,
        api_key=key,
        webhook_user_id=owner.id,
        webhook_public_id=first.endpoint.public_id,
        webhook_secrets=(rotated.secret, first.secret),
        idempotency_owner=f"key:{key.key.key_id}",
    )


def _signed_request(key: api_keys.NewKey, nonce: str) -> api_keys.SignedRequest:
    stamp = str(int(time.time()))
    signature = api_keys.sign(key.secret, api_keys.canonical_request("GET", "/api/v1/products", stamp, nonce, b""))
    return api_keys.SignedRequest(key.key.key_id, stamp, nonce, signature, "GET", "/api/v1/products", b"")


def _open_everything(db: Database, vault: Vault, made: Everything) -> None:
    """Use every sealed value the way the application does, through ``vault`` alone."""
    with db.transaction() as s:
        keys = inventory.list_keys(s, product_id=s.scalars(select(CardKey.product_id).limit(1)).one())
        revealed = sorted(inventory.reveal_key(s, key_id=k.id, vault=vault, actor="user:1").secret for k in keys)
        assert revealed == sorted(made.card_key_secrets)
        fixed = catalog.get_product(s, made.fixed_product_id)
        assert fixed.fixed_content is not None
        assert vault.decrypt(fixed.fixed_content, catalog.fixed_content_aad(fixed.id)) == b"https://example.com/dl?code=EVERY"
        manual = orders.get_by_number(s, made.manual_order_number)
        assert checkout.delivered_content(s, manual, vault=vault, actor="buyer").items == ["acct-1 / pw-1"]
        request = _signed_request(made.api_key, nonce=f"nonce-{time.monotonic_ns()}")
        assert api_keys.verify(s, request, vault=vault, now=time.time()).key_id == made.api_key.key.key_id
        endpoint = webhooks.get_endpoint(s, made.webhook_user_id, made.webhook_public_id)
        assert webhooks.signing_secrets(endpoint, vault, now=utcnow()) == list(made.webhook_secrets)
        stored = idempotency.claim(s, owner=made.idempotency_owner, key="idem-1", fingerprint="f" * 64)
        assert isinstance(stored, idempotency.Stored)
        assert idempotency.open_body(vault, owner=made.idempotency_owner, key="idem-1", stored=stored.body) == REPLAYED_BODY


def test_every_sealed_column_survives_retiring_the_old_key(db: Database, settings: Settings, providers: Terms) -> None:
    old, both, new_only = _vaults(settings)
    made = _seal_everything(db, old, providers)
    for sealed in all_columns():
        assert set(_key_ids(db, sealed)) == {"t1"}, f"the test seals nothing in {sealed.name}"

    counts = _rotate(db, both, batch=2)
    # 3 card keys, one of everything else; the webhook endpoint holds both a current and a previous secret.
    assert {name: (c.scanned, c.reencrypted) for name, c in counts.items()} == {
        "catalog.products.fixed_content": (1, 1),
        "identity.api_keys.secret_ciphertext": (1, 1),
        "inventory.card_keys.ciphertext": (3, 3),
        "kit.idempotency_records.response_body": (1, 1),
        "orders.orders.manual_content": (1, 1),
        "webhooks.webhook_endpoints.previous_secret_ciphertext": (1, 1),
        "webhooks.webhook_endpoints.secret_ciphertext": (1, 1),
    }
    for sealed in all_columns():
        assert set(_key_ids(db, sealed)) == {"k2"}, sealed.name

    _open_everything(db, new_only, made)


def test_an_interrupted_rotation_keeps_its_batches_and_resumes(db: Database, settings: Settings) -> None:
    old, both, new_only = _vaults(settings)
    secrets = key_secrets(5, prefix="RESUME")
    with db.transaction() as s:
        product_id = make_product(s, old).id
        import_keys(s, old, product_id, secrets)
        for name in ("a", "b"):
            api_keys.create(s, user_id=1, name=name, scopes=["catalog:read"], vault=old)
    [card_keys] = [c for c in all_columns() if c.name == "inventory.card_keys.ciphertext"]

    class Crash(Exception):
        pass

    def crash_after_three(counts: ColumnCounts) -> None:
        if counts.scanned == 3:
            raise Crash

    with pytest.raises(Crash):
        rotate(db, both, [card_keys], batch=1, after_batch=crash_after_three)
    assert _key_ids(db, card_keys) == ["k2", "k2", "k2", "t1", "t1"]  # every batch before the crash committed

    resumed = _rotate(db, both, batch=1)
    assert (resumed[card_keys.name].scanned, resumed[card_keys.name].reencrypted) == (5, 2)
    assert resumed["identity.api_keys.secret_ciphertext"].reencrypted == 2
    assert _total(_rotate(db, both)) == (7, 0)
    with db.transaction(write=False) as s:
        ciphertexts = s.scalars(select(CardKey.ciphertext)).all()
    assert sorted(new_only.decrypt(blob, inventory.key_aad(product_id)).decode() for blob in ciphertexts) == sorted(secrets)


def test_a_blob_under_an_unknown_key_stops_rotation_naming_the_row(db: Database, settings: Settings) -> None:
    old, _, new_only = _vaults(settings)
    with db.transaction() as s:
        made = api_keys.create(s, user_id=1, name="lost", scopes=["catalog:read"], vault=old)
    with pytest.raises(RotationError) as stopped:
        _rotate(db, new_only)  # k1 retired before rotating: the blob cannot be opened
    message = str(stopped.value)
    assert f"identity.api_keys.secret_ciphertext row {made.key.id}" in message
    assert made.secret not in message


def test_a_value_changed_during_a_batch_is_not_overwritten(db: Database, settings: Settings) -> None:
    old, both, _ = _vaults(settings)
    [api_key_column] = [c for c in all_columns() if c.name == "identity.api_keys.secret_ciphertext"]
    with db.transaction() as s:
        made = api_keys.create(s, user_id=1, name="race", scopes=["catalog:read"], vault=old)
    with db.transaction() as s:
        [row] = s.execute(select(*api_key_column.columns)).all()
        # The application re-seals the row after rotation read it, before rotation writes.
        newer = both.encrypt(b"krsk_newer", api_keys.secret_aad(made.key.key_id))
        s.execute(update(api_keys.ApiKey).values(secret_ciphertext=newer))
        assert _reseal(s, both, api_key_column, row) == 0
    with db.transaction(write=False) as s:
        assert s.scalars(select(api_keys.ApiKey.secret_ciphertext)).one() == newer


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment for running ``keyrelay`` in-process against the module database, old and new key configured."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("KEYRELAY_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("KEYRELAY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KEYRELAY_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("KEYRELAY_VAULT_KEYS", format_vault_keys([K2, _k1(settings)]))


@pytest.mark.usefixtures("cli_env")
def test_vault_rotate_command_prints_counts_per_column(db: Database, settings: Settings) -> None:
    old, _, _ = _vaults(settings)
    with db.transaction() as s:
        import_keys(s, old, make_product(s, old).id, 2)
        api_keys.create(s, user_id=1, name="cli", scopes=["catalog:read"], vault=old)
    done = CliRunner().invoke(cli.app, ["vault", "rotate", "--batch", "1"])
    assert done.exit_code == 0, done.output
    assert "inventory.card_keys.ciphertext: re-encrypted 2 of 2" in done.output
    assert "identity.api_keys.secret_ciphertext: re-encrypted 1 of 1" in done.output
    assert "webhooks.webhook_endpoints.previous_secret_ciphertext: re-encrypted 0 of 0" in done.output
    assert "re-encrypted 3 of 3 secrets under key k2" in done.output
