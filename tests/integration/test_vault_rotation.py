"""Vault key rotation re-encrypts every stored secret; reveals keep working and are audited."""

from __future__ import annotations

import pytest
from factories import import_keys, key_secrets, make_product, make_stocked_product, place, sandbox_notification
from sqlalchemy import select

from keyrelay import checkout
from keyrelay.audit import service as audit
from keyrelay.catalog import service as catalog
from keyrelay.checkout import Terms
from keyrelay.config import Settings
from keyrelay.inventory import service as inventory
from keyrelay.inventory.models import CardKey
from keyrelay.inventory.rotation import rotate_all
from keyrelay.kit.db import Database
from keyrelay.kit.vault import UnknownKeyError, Vault, VaultKey, generate_vault_key, parse_vault_keys
from keyrelay.orders import service as orders

K2 = generate_vault_key("k2")


def _k1(settings: Settings) -> VaultKey:
    [k1] = parse_vault_keys(settings.vault_keys)
    return k1


def _fingerprint_key(settings: Settings) -> bytes:
    # Rotation changes the encryption keys only: duplicate detection must keep matching old keys.
    return settings.derived_key(b"fingerprint")


def _key_ids(db: Database) -> set[str]:
    with db.transaction(write=False) as s:
        return {Vault.key_id_of(bytes(blob)) for blob in s.scalars(select(CardKey.ciphertext))}


def test_rotation_reencrypts_everything_under_the_new_key(db: Database, settings: Settings, providers: Terms) -> None:
    old = Vault([_k1(settings)], _fingerprint_key(settings))
    secrets = key_secrets(7, prefix="ROTATE")
    with db.transaction() as s:
        product = make_product(s, old)
        fixed = make_product(s, old, kind="fixed", fixed_content="https://example.com/dl?code=FIXED")
        import_keys(s, old, product.id, secrets)
        sold = place(s, providers, product.id, 2)
    with db.transaction() as s:
        params = sandbox_notification(providers, sold)
        assert checkout.accept_notification(s, provider_name="sandbox", params=params, terms=providers) == "accepted"
    assert _key_ids(db) == {"t1"}

    both = Vault([K2, _k1(settings)], _fingerprint_key(settings))
    counts = rotate_all(db, both, batch=3)  # several batches
    assert (counts.scanned, counts.reencrypted) == (8, 8)  # 7 keys + 1 fixed content
    assert _key_ids(db) == {"k2"}
    assert rotate_all(db, both).reencrypted == 0  # idempotent

    new_only = Vault([K2], _fingerprint_key(settings))
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


def test_rotation_covers_manually_delivered_content(db: Database, settings: Settings, providers: Terms) -> None:
    old = Vault([_k1(settings)], _fingerprint_key(settings))
    with db.transaction() as s:
        product = make_product(s, old, kind="manual")
        order = place(s, providers, product.id, 1)
    with db.transaction() as s:
        params = sandbox_notification(providers, order)
        checkout.accept_notification(s, provider_name="sandbox", params=params, terms=providers)
    with db.transaction() as s:
        checkout.deliver_manually(s, orders.get_by_number(s, order.number), content="acct-9 / pw-9", vault=old, actor="user:1")

    assert rotate_all(db, Vault([K2, _k1(settings)], _fingerprint_key(settings))).reencrypted == 1
    with db.transaction() as s:
        delivered = orders.get_by_number(s, order.number)
        assert delivered.manual_content is not None
        assert Vault.key_id_of(delivered.manual_content) == "k2"
        items = checkout.delivered_content(s, delivered, vault=Vault([K2], _fingerprint_key(settings)), actor="buyer").items
    assert items == ["acct-9 / pw-9"]
