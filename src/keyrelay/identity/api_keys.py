"""Machine credentials for channels: API keys whose secrets sit encrypted in the vault.

The server must recompute each request's HMAC, so it cannot store a one-way
hash of the secret; it stores the secret encrypted (AAD binds it to the key id)
and shows it exactly once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Boolean, LargeBinary, String, UniqueConstraint, bindparam, column, delete, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from keyrelay.audit.service import record
from keyrelay.identity import errors
from keyrelay.identity.errors import ChannelMismatch as ChannelMismatch  # re-exported
from keyrelay.identity.errors import ScopeMissing as ScopeMissing  # re-exported
from keyrelay.identity.errors import SignatureRejected as SignatureRejected  # re-exported
from keyrelay.identity.models import User
from keyrelay.identity.scopes import SCOPES as SCOPES  # re-exported: older code imports it from here
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime, insert_or_skip, memo
from keyrelay.kit.vault import Vault

MAX_SKEW_SECONDS = 300
NONCE_TTL_SECONDS = 2 * MAX_SKEW_SECONDS


class ApiKey(Base):
    """One key of a user (a distributor), optionally bound to one of its channels."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(40), unique=True)
    """Public identifier sent as ``X-Key-Id``."""
    user_id: Mapped[int] = mapped_column(BigId, index=True)
    channel_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    name: Mapped[str] = mapped_column(String(80))
    scopes: Mapped[str] = mapped_column(String(200))
    """Space-separated subset of ``SCOPES``."""
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiNonce(Base):
    """Nonces seen per key inside the skew window; the unique key stops replays in every process."""

    __tablename__ = "api_nonces"
    __table_args__ = (UniqueConstraint("key_id", "nonce"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(40))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    ts: Mapped[int] = mapped_column(BigInteger)


def sales_channel(bound: int | None, requested: int | None) -> int | None:
    """The channel a sale is attributed to: a key bound to a channel sells there and nowhere else.

    ``bound`` is the key's channel (None for unbound keys and console sessions),
    ``requested`` the one the request names (None: not named).
    """
    if bound is None:
        return requested
    if requested is not None and requested != bound:
        raise errors.CHANNEL_MISMATCH(field="channel_id", channel_id=bound)
    return bound


def secret_aad(key_id: str) -> bytes:
    """AAD binding a secret to its key id: a ciphertext copied onto another key fails to open."""
    return f"apikey:{key_id}".encode()


@dataclass(frozen=True)
class NewKey:
    """A created key. ``secret`` exists only here: it is never returned again."""

    key: ApiKey
    secret: str


def create(session: Session, *, user_id: int, name: str, scopes: list[str], vault: Vault, channel_id: int | None = None) -> NewKey:
    name = name.strip()
    if not 1 <= len(name) <= 80:
        raise errors.KEY_NAME(field="name")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise errors.KEY_SCOPES(field="scopes", choices=list(SCOPES))
    key_id = f"kr_{secrets.token_hex(10)}"
    secret = f"krsk_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        key_id=key_id,
        user_id=user_id,
        channel_id=channel_id,
        name=name,
        scopes=" ".join(sorted(set(scopes))),
        secret_ciphertext=vault.encrypt(secret.encode(), secret_aad(key_id)),
    )
    session.add(key)
    session.flush()
    record(session, actor=f"user:{user_id}", action="api_key.create", target_type="api_key", target_id=key_id, scopes=key.scopes)
    return NewKey(key, secret)


def list_for(session: Session, user_id: int) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id.desc())))


def revoke(session: Session, *, user_id: int, key_id: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id, ApiKey.user_id == user_id))
    if key is None:
        raise errors.NOT_FOUND(resource="API key", id=key_id)
    key.revoked = True
    record(session, actor=f"user:{user_id}", action="api_key.revoke", target_type="api_key", target_id=key_id)
    return key


def canonical_request(method: str, path_and_query: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The exact bytes a client signs (see the API guide)."""
    return f"{method.upper()}\n{path_and_query}\n{timestamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}".encode()


def sign(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    key_id: str
    timestamp: str
    nonce: str
    signature: str
    method: str
    path_and_query: str
    body: bytes


def verify(session: Session, request: SignedRequest, *, vault: Vault, now: float) -> ApiKey:
    """Check a signed request and spend its nonce, in the caller's transaction; the key comes back."""
    return _verified(session, request, vault=vault, now=now)[0]


def verify_known(session: Session, request: SignedRequest, *, vault: Vault, now: float) -> KnownKey:
    """``verify``, answering what a ``KeyCache`` keeps (the owner's account is not checked here)."""
    key, owner, secret = _verified(session, request, vault=vault, now=now)
    return KnownKey(key.key_id, owner.id, owner.role, owner.email, key.scopes, key.channel_id, secret, owner.is_active)


def _verified(session: Session, request: SignedRequest, *, vault: Vault, now: float) -> tuple[ApiKey, User, str]:
    key, owner = _load(session, request.key_id)
    secret = vault.decrypt(key.secret_ciphertext, secret_aad(key.key_id)).decode()
    check_signature(request, secret, now=now)
    # Checked last so a forged request cannot burn a legitimate client's nonce.
    spend_nonce(session, key.key_id, request.nonce, int(request.timestamp))
    _touch(session, key)
    return key, owner, secret


def _load(session: Session, key_id: str) -> tuple[ApiKey, User]:
    # The owner comes in the same query: the caller checks the account next (``get_user`` finds it loaded).
    query = select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.key_id == key_id)
    found = session.execute(query).tuples().first()
    if found is None:
        raise errors.UNKNOWN_KEY()
    key, owner = found
    memo(session, "identity.users")[owner.id] = owner  # the identity map holds objects weakly
    if key.revoked:
        raise errors.KEY_REVOKED(why="this API key was revoked")
    return key, owner


def check_signature(request: SignedRequest, secret: str, *, now: float) -> None:
    """Timestamp within the skew, a well-formed nonce, and the HMAC of the canonical request (no database)."""
    if not request.timestamp.isdigit() or abs(now - int(request.timestamp)) > MAX_SKEW_SECONDS:
        raise errors.STALE_TIMESTAMP(max_skew_seconds=MAX_SKEW_SECONDS)
    if not 8 <= len(request.nonce) <= 64 or not request.nonce.isprintable():
        raise errors.BAD_NONCE()
    message = canonical_request(request.method, request.path_and_query, request.timestamp, request.nonce, request.body)
    if not hmac.compare_digest(sign(secret, message).encode(), request.signature.lower().encode()):
        raise errors.BAD_SIGNATURE()


def spend_nonce(session: Session, key_id: str, nonce: str, ts: int) -> None:
    """Record the nonce as seen; a second request with it, in any process, is a replay."""
    values = {"key_id": key_id, "nonce": nonce, "seen_at": utcnow(), "ts": ts}
    if insert_or_skip(session, ApiNonce, values, ["key_id", "nonce"]) is None:
        raise errors.REPLAYED_NONCE()


@dataclass(frozen=True)
class KnownKey:
    """A key and its owner as last read: what signing and the caller's principal need.

    Only ``revoked`` and the owner's ``is_active`` change after a key is made
    (scopes, channel, role and e-mail never do); ``still_valid`` re-reads those
    two in the transaction that does the request's work.
    """

    key_id: str
    user_id: int
    role: str
    email: str
    scopes: str
    channel_id: int | None
    secret: str = field(repr=False)
    active: bool


_STILL_VALID = text("SELECT k.revoked, u.is_active FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_id = :key_id").columns(
    column("revoked", Boolean), column("is_active", Boolean)
)


def still_valid(session: Session, key_id: str) -> None:
    """Refuse, in the work's transaction, a key revoked (or an account disabled) since it was read."""
    row = session.connection().execute(_STILL_VALID, {"key_id": key_id}).first()
    if row is None:
        raise errors.UNKNOWN_KEY()
    if row.revoked:
        raise errors.KEY_REVOKED(why="this API key was revoked")
    if not row.is_active:
        raise errors.KEY_REVOKED(why="the key's account is disabled")


_SPEND_IF_VALID = text(
    "INSERT INTO api_nonces (key_id, nonce, seen_at, ts)"
    " SELECT k.key_id, :nonce, :seen_at, :ts FROM api_keys k JOIN users u ON u.id = k.user_id"
    " WHERE k.key_id = :key_id AND NOT k.revoked AND u.is_active"
    " ON CONFLICT (key_id, nonce) DO NOTHING RETURNING id"
).bindparams(bindparam("seen_at", type_=UtcDateTime()))
"""The nonce spent only if the key is still good, in one statement (SQLite parses ON CONFLICT here thanks to the WHERE)."""


def spend_if_valid(session: Session, key_id: str, nonce: str, ts: int) -> None:
    """``still_valid`` and ``spend_nonce`` in one round trip; the reason is looked up only when it fails."""
    values = {"key_id": key_id, "nonce": nonce, "seen_at": utcnow(), "ts": ts}
    if session.connection().execute(_SPEND_IF_VALID, values).first() is not None:
        return
    still_valid(session, key_id)  # revoked, disabled or gone: raises that
    raise errors.REPLAYED_NONCE()


class KeyCache:
    """Known keys of this process, for ``ttl`` seconds: a signed request then needs no read before its work.

    Never the last word: whoever uses an entry re-checks it with ``still_valid``
    in the transaction that does the work, and ``forget`` drops it when that
    check fails. Holds decrypted secrets, so it lives in memory only.
    """

    def __init__(self, *, ttl: float = 60.0, size: int = 10_000) -> None:
        self._ttl, self._size = ttl, size
        self._entries: OrderedDict[str, tuple[float, KnownKey]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_id: str, *, now: float) -> KnownKey | None:
        with self._lock:
            found = self._entries.get(key_id)
            if found is None or now - found[0] > self._ttl:
                return None
            self._entries.move_to_end(key_id)
            return found[1]

    def put(self, known: KnownKey, *, now: float) -> None:
        with self._lock:
            self._entries[known.key_id] = (now, known)
            self._entries.move_to_end(known.key_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._entries.pop(key_id, None)


def _touch(session: Session, key: ApiKey) -> None:
    """Record last use at most once a minute: a busy key must not rewrite its row per request."""
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now).execution_options(synchronize_session=False))


def purge_nonces(session: Session) -> int:
    """Forget nonces older than the replay window (they would fail the skew check anyway)."""
    cutoff = utcnow() - timedelta(seconds=NONCE_TTL_SECONDS)
    return session.execute(delete(ApiNonce).where(ApiNonce.seen_at < cutoff)).rowcount  # type: ignore[attr-defined,no-any-return]
