"""Card-key vault: sealing, tamper detection, rotation, fingerprints, config."""

from __future__ import annotations

import base64
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyrelay.kit.vault import (
    DecryptionError,
    UnknownKeyError,
    Vault,
    VaultConfigError,
    VaultError,
    VaultKey,
    format_vault_keys,
    generate_vault_key,
    parse_vault_keys,
)

FP_KEY = b"f" * 32
AAD = b"cardkey:42"
K1 = VaultKey("k1", bytes(range(32)))
K2 = VaultKey("k2", bytes(range(32, 64)))
STD_B64 = base64.b64encode(bytes([0xFB]) * 32).decode()  # uses "+" and "/"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def vault() -> Vault:
    return Vault([K1], FP_KEY)


@given(plaintext=st.binary(max_size=300), aad=st.binary(min_size=1, max_size=40))
def test_roundtrip(plaintext: bytes, aad: bytes) -> None:
    vault = Vault([K1], FP_KEY)
    assert vault.decrypt(vault.encrypt(plaintext, aad), aad) == plaintext


def test_blob_layout(vault: Vault) -> None:
    blob = vault.encrypt(b"ABCD-1234", AAD)
    assert blob[0] == 0x01
    assert blob[1] == 2
    assert blob[2:4] == b"k1"
    assert len(blob) == 1 + 1 + 2 + 12 + len(b"ABCD-1234") + 16
    assert Vault.key_id_of(blob) == "k1"


def test_nonces_are_fresh(vault: Vault) -> None:
    assert vault.encrypt(b"same", AAD) != vault.encrypt(b"same", AAD)


def test_flipping_any_byte_is_detected(vault: Vault) -> None:
    blob = vault.encrypt(b"ABCD-1234", AAD)
    for index in range(len(blob)):
        for bit in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[index] ^= bit
            with pytest.raises(DecryptionError):
                vault.decrypt(bytes(tampered), AAD)


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 10, 20])
def test_truncated_blob_is_rejected(vault: Vault, cut: int) -> None:
    blob = vault.encrypt(b"", AAD)
    with pytest.raises(DecryptionError):
        vault.decrypt(blob[:cut], AAD)


def test_appended_bytes_are_rejected(vault: Vault) -> None:
    with pytest.raises(DecryptionError):
        vault.decrypt(vault.encrypt(b"x", AAD) + b"\x00", AAD)


def test_wrong_aad_is_rejected(vault: Vault) -> None:
    blob = vault.encrypt(b"ABCD-1234", b"cardkey:42")
    with pytest.raises(DecryptionError):
        vault.decrypt(blob, b"cardkey:43")


def test_encrypt_requires_aad(vault: Vault) -> None:
    with pytest.raises(ValueError, match="aad"):
        vault.encrypt(b"x", b"")


def test_unknown_key_id(vault: Vault) -> None:
    blob = Vault([K2], FP_KEY).encrypt(b"x", AAD)
    with pytest.raises(UnknownKeyError, match="'k2'"):
        vault.decrypt(blob, AAD)
    assert issubclass(UnknownKeyError, DecryptionError)
    assert issubclass(DecryptionError, VaultError)


def test_same_id_different_key_fails_authentication() -> None:
    blob = Vault([K1], FP_KEY).encrypt(b"x", AAD)
    impostor = Vault([VaultKey("k1", K2.key)], FP_KEY)
    with pytest.raises(DecryptionError):
        impostor.decrypt(blob, AAD)


def test_rotation() -> None:
    old = Vault([K1], FP_KEY).encrypt(b"ABCD-1234", AAD)
    rotated = Vault([K2, K1], FP_KEY)
    assert rotated.active_key_id == "k2"
    assert rotated.decrypt(old, AAD) == b"ABCD-1234"
    assert rotated.needs_rotation(old)
    fresh = rotated.reencrypt(old, AAD)
    assert Vault.key_id_of(fresh) == "k2"
    assert not rotated.needs_rotation(fresh)
    assert Vault([K2], FP_KEY).decrypt(fresh, AAD) == b"ABCD-1234"


def test_reencrypt_checks_aad() -> None:
    old = Vault([K1], FP_KEY).encrypt(b"x", AAD)
    with pytest.raises(DecryptionError):
        Vault([K2, K1], FP_KEY).reencrypt(old, b"cardkey:7")


def test_fingerprint_is_stable_and_scoped(vault: Vault) -> None:
    fp = vault.fingerprint(b"ABCD", b"product:1")
    assert len(fp) == 32
    assert fp == Vault([K2], FP_KEY).fingerprint(b"ABCD", b"product:1")
    assert fp != vault.fingerprint(b"ABCD", b"product:2")
    assert fp != vault.fingerprint(b"ABCE", b"product:1")
    assert fp != Vault([K1], b"g" * 32).fingerprint(b"ABCD", b"product:1")


def test_fingerprint_scope_boundary_is_unambiguous(vault: Vault) -> None:
    assert vault.fingerprint(b"2x", b"p1") != vault.fingerprint(b"x", b"p12")


def test_fingerprinter_matches_fingerprint(vault: Vault) -> None:
    fingerprint = vault.fingerprinter(b"product:1")
    for plaintext in (b"", b"ABCD", b"ABCD", "卡密".encode()):
        assert fingerprint(plaintext) == vault.fingerprint(plaintext, b"product:1")
    assert vault.fingerprinter(b"p1")(b"2x") == vault.fingerprint(b"2x", b"p1") != vault.fingerprint(b"x", b"p12")


def test_reprs_hide_key_material() -> None:
    vault = Vault([K2, K1], FP_KEY)
    for text in (repr(K1), str(K1), repr(vault), str(vault)):
        assert "k1" in text
        assert repr(K1.key) not in text
        assert K1.key.hex() not in text
        assert repr(FP_KEY) not in text
    assert "'k2'" in repr(vault)


def test_vault_key_pickles() -> None:
    assert pickle.loads(pickle.dumps(K1)) == K1


def test_spec_roundtrip() -> None:
    keys = [generate_vault_key("k2"), generate_vault_key("old_key-1")]
    spec = format_vault_keys(keys)
    assert "=" not in spec
    assert parse_vault_keys(spec) == keys


def test_parse_accepts_padding_and_whitespace() -> None:
    spec = f" k2 : {_b64(K2.key)}= ,\n k1:{_b64(K1.key)} "
    assert parse_vault_keys(spec) == [K2, K1]


def test_generated_keys_are_random() -> None:
    assert generate_vault_key("a").key != generate_vault_key("a").key
    assert len(generate_vault_key("a").key) == 32


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("", "empty"),
        ("  ", "empty"),
        (f"{_b64(K1.key)}", "KEY_ID:BASE64URL"),
        (f"k1:{_b64(K1.key)},", "entry 2"),
        (f"bad id:{_b64(K1.key)}", "1-16 characters"),
        (f"{'a' * 17}:{_b64(K1.key)}", "1-16 characters"),
        (f":{_b64(K1.key)}", "1-16 characters"),
        (f"k1:{_b64(K1.key)},k1:{_b64(K2.key)}", "twice"),
        (f"k1:{_b64(K1.key[:16])}", "32 bytes"),
        (f"k1:{_b64(K1.key + b'x')}", "32 bytes"),
        (f"k1:{_b64(K1.key)[:-1]}!", "base64url"),
        (f"k1:{STD_B64}", "base64url"),
        ("k1:A", "base64url"),
    ],
)
def test_parse_errors_are_clear_and_leak_free(spec: str, needle: str) -> None:
    with pytest.raises(VaultConfigError, match=needle) as info:
        parse_vault_keys(spec)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    for material in (_b64(K1.key), _b64(K2.key), _b64(K1.key[:16]), _b64(K1.key)[:-1]):
        assert material not in message


def test_vault_key_validates() -> None:
    with pytest.raises(VaultConfigError, match="32 bytes"):
        VaultKey("k1", b"short")
    with pytest.raises(VaultConfigError):
        VaultKey("k/1", K1.key)
    with pytest.raises(VaultConfigError):
        generate_vault_key("")


@pytest.mark.parametrize(
    ("keys", "fp_key", "needle"),
    [
        ([], FP_KEY, "at least one"),
        ([K1, VaultKey("k1", K2.key)], FP_KEY, "twice"),
        ([K1], b"short", "fingerprint key"),
        ([K1, K2], K2.key, "differ"),
    ],
)
def test_vault_config_errors(keys: list[VaultKey], fp_key: bytes, needle: str) -> None:
    with pytest.raises(VaultConfigError, match=needle):
        Vault(keys, fp_key)


def test_format_rejects_empty_and_duplicates() -> None:
    with pytest.raises(VaultConfigError):
        format_vault_keys([])
    with pytest.raises(VaultConfigError):
        format_vault_keys([K1, K1])


def test_error_messages_never_contain_plaintext(vault: Vault) -> None:
    secret = b"SECRET-PLAINTEXT"
    blob = vault.encrypt(secret, AAD)
    bad = bytearray(blob)
    bad[-1] ^= 1
    for attempt in (bytes(bad), blob[:5], Vault([K2], FP_KEY).encrypt(secret, AAD)):
        with pytest.raises(VaultError) as info:
            vault.decrypt(attempt, AAD)
        assert "SECRET" not in str(info.value)
        assert info.value.__cause__ is None
