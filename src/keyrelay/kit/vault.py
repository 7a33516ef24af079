"""Card-key vault: AES-256-GCM with versioned keys and keyed fingerprints.

Card keys are the goods we sell, so they are stored encrypted and decrypted
only at the moment of issuance. Each blob names the key that sealed it, which
lets us add a new active key, keep old keys for decryption only, and re-encrypt
old rows in the background.

Blob format (all lengths in bytes)::

    1       format version, currently 0x01
    1       key-id length n (1..16)
    n       key id, ASCII [A-Za-z0-9_-]
    12      random nonce
    rest    AES-GCM ciphertext followed by the 16-byte tag

The GCM associated data is ``header || aad``, where ``header`` is the version,
length and key-id bytes above and ``aad`` comes from the caller (for example
``b"cardkey:42"``). A blob therefore only decrypts under the same ``aad``, so a
ciphertext copied onto another product's row is rejected.

Nonces are random, so one key should seal well under 2**32 blobs; rotate the
active key long before that (rotation is cheap: add a key id, re-encrypt).

``fingerprint`` is an HMAC of the plaintext under a separate key, used to find
duplicate card keys within a scope (a product) without decrypting anything.

Keys are configured as ``"k2:BASE64URL,k1:BASE64URL"``: the first entry is the
active key, the rest are decrypt-only. No error message or ``repr`` in this
module ever contains key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = 0x01
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MIN_FINGERPRINT_KEY_BYTES = 32

_MIN_HEADER_BYTES = 3  # version, id length, at least one id byte
_KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,16}")
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class VaultError(Exception):
    """Base class for vault failures; messages never carry secrets."""


class VaultConfigError(VaultError, ValueError):
    """The key configuration is unusable (bad spec, id, length or encoding)."""


class DecryptionError(VaultError):
    """A blob is malformed, tampered with, or was sealed under another aad."""


class UnknownKeyError(DecryptionError):
    """A blob names a key id that is not configured.

    A subclass of DecryptionError because the blob still cannot be opened;
    catch it first to tell "retired a key too early" apart from tampering.
    """


@dataclass(frozen=True, slots=True)
class VaultKey:
    """One named AES-256 key; ``repr`` shows only the id."""

    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_key_id(self.key_id)
        if len(self.key) != KEY_BYTES:
            raise VaultConfigError(f"vault key {self.key_id!r} must be {KEY_BYTES} bytes, got {len(self.key)}")


def _check_key_id(key_id: str) -> None:
    # The bad id is not echoed: a mis-pasted spec may put key material here.
    if not _KEY_ID_RE.fullmatch(key_id):
        raise VaultConfigError("vault key id must be 1-16 characters of [A-Za-z0-9_-]")


def _b64url_decode(text: str, key_id: str) -> bytes:
    """Decode strict base64url, padded or not; reject anything else."""
    if not _B64URL_RE.fullmatch(text):
        raise VaultConfigError(f"vault key {key_id!r} is not valid base64url")
    unpadded = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        raise VaultConfigError(f"vault key {key_id!r} is not valid base64url") from None


def _parse_entry(position: int, entry: str) -> VaultKey:
    key_id, sep, encoded = entry.strip().partition(":")
    if not sep:
        raise VaultConfigError(f"vault key entry {position} must look like KEY_ID:BASE64URL")
    key_id = key_id.strip()
    try:
        _check_key_id(key_id)
    except VaultConfigError as exc:
        raise VaultConfigError(f"vault key entry {position}: {exc}") from None
    return VaultKey(key_id, _b64url_decode(encoded.strip(), key_id))


def _check_unique(keys: Sequence[VaultKey]) -> None:
    seen: set[str] = set()
    for vault_key in keys:
        if vault_key.key_id in seen:
            raise VaultConfigError(f"vault key id {vault_key.key_id!r} is configured twice")
        seen.add(vault_key.key_id)


def parse_vault_keys(spec: str) -> list[VaultKey]:
    """Parse ``"k2:B64,k1:B64"``; the first key is the active one."""
    if not spec.strip():
        raise VaultConfigError("vault key spec is empty")
    keys = [_parse_entry(pos, entry) for pos, entry in enumerate(spec.split(","), start=1)]
    _check_unique(keys)
    return keys


def generate_vault_key(key_id: str) -> VaultKey:
    """Make a fresh random key, e.g. for the next rotation."""
    return VaultKey(key_id, os.urandom(KEY_BYTES))


def format_vault_keys(keys: Sequence[VaultKey]) -> str:
    """Render keys in the spec format read by ``parse_vault_keys``."""
    if not keys:
        raise VaultConfigError("at least one vault key is required")
    _check_unique(keys)
    return ",".join(f"{k.key_id}:{base64.urlsafe_b64encode(k.key).decode('ascii').rstrip('=')}" for k in keys)


def _header(key_id: str) -> bytes:
    raw_id = key_id.encode("ascii")
    return bytes((FORMAT_VERSION, len(raw_id))) + raw_id


def _split_blob(blob: bytes) -> tuple[bytes, str, bytes, bytes]:
    """Return (header, key id, nonce, ciphertext) or raise DecryptionError."""
    if len(blob) < _MIN_HEADER_BYTES or blob[0] != FORMAT_VERSION:
        raise DecryptionError("blob is malformed or has an unsupported format version")
    body_start = 2 + blob[1]
    if len(blob) < body_start + NONCE_BYTES + TAG_BYTES:
        raise DecryptionError("blob is truncated")
    key_id = blob[2:body_start].decode("ascii", errors="replace")
    if not _KEY_ID_RE.fullmatch(key_id):
        raise DecryptionError("blob has a malformed key id")
    nonce_end = body_start + NONCE_BYTES
    return blob[:body_start], key_id, blob[body_start:nonce_end], blob[nonce_end:]


class Vault:
    """Encrypts with the active key; decrypts with any configured key."""

    def __init__(self, keys: Sequence[VaultKey], fingerprint_key: bytes) -> None:
        if not keys:
            raise VaultConfigError("at least one vault key is required")
        _check_unique(keys)
        if len(fingerprint_key) < MIN_FINGERPRINT_KEY_BYTES:
            raise VaultConfigError(f"fingerprint key must be at least {MIN_FINGERPRINT_KEY_BYTES} bytes")
        if any(fingerprint_key == k.key for k in keys):
            # One key for two jobs would tie HMAC and GCM security together.
            raise VaultConfigError("fingerprint key must differ from every encryption key")
        # AESGCM objects are built once: key setup per call dominates bulk imports.
        self._ciphers = {k.key_id: AESGCM(k.key) for k in keys}
        self._active_id = keys[0].key_id
        self._active_header = _header(self._active_id)
        self._fingerprint_key = bytes(fingerprint_key)

    def __repr__(self) -> str:
        return f"Vault(active_key_id={self._active_id!r}, key_ids={tuple(self._ciphers)!r})"

    @property
    def active_key_id(self) -> str:
        """Id of the key every new blob is sealed with."""
        return self._active_id

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        """Seal ``plaintext`` under the active key, bound to ``aad``."""
        if not aad:
            raise ValueError("aad must not be empty: it binds the blob to its owner")
        header = self._active_header
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._active_id].encrypt(nonce, plaintext, header + aad)
        return header + nonce + sealed

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        """Open a blob sealed by any configured key under the same ``aad``."""
        header, key_id, nonce, sealed = _split_blob(blob)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(f"vault key {key_id!r} is not configured")
        try:
            return cipher.decrypt(nonce, sealed, header + aad)
        except InvalidTag:
            raise DecryptionError("blob failed authentication: tampered, wrong aad, or wrong key") from None

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """Id of the key that sealed ``blob``, read without decrypting."""
        return _split_blob(blob)[1]

    def needs_rotation(self, blob: bytes) -> bool:
        """Tell whether ``blob`` was sealed by a key other than the active one."""
        return self.key_id_of(blob) != self._active_id

    def reencrypt(self, blob: bytes, aad: bytes) -> bytes:
        """Open and reseal under the active key (always a fresh nonce)."""
        return self.encrypt(self.decrypt(blob, aad), aad)

    def fingerprint(self, plaintext: bytes, scope: bytes) -> bytes:
        """Keyed 32-byte digest for duplicate detection within ``scope``.

        The scope is length-prefixed so (scope, plaintext) pairs cannot be
        shifted into each other, e.g. (b"p1", b"2x") vs (b"p12", b"x").
        """
        message = len(scope).to_bytes(4, "big") + scope + plaintext
        return hmac.digest(self._fingerprint_key, message, "sha256")

    def fingerprinter(self, scope: bytes) -> Callable[[bytes], bytes]:
        """``fingerprint(·, scope)`` for many plaintexts: the keyed, scoped HMAC state is computed once.

        A bulk import fingerprints millions of keys under one scope; copying a
        prepared HMAC is about a third cheaper than keying a new one per key.
        """
        prepared = hmac.new(self._fingerprint_key, len(scope).to_bytes(4, "big") + scope, "sha256")

        def fingerprint(plaintext: bytes) -> bytes:
            mac = prepared.copy()
            mac.update(plaintext)
            return mac.digest()

        return fingerprint
