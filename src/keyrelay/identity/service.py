"""Use cases for accounts: create users, sign in, issue and check console tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import jwt
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keyrelay.audit.service import record
from keyrelay.identity import errors
from keyrelay.identity.models import User
from keyrelay.identity.passwords import hash_password, verify_password
from keyrelay.kit.clock import utcnow

ROLES = ("operator", "supplier", "distributor", "buyer")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
JWT_ALG = "HS256"
MIN_PASSWORD = 8


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the services need to know it."""

    user_id: int
    role: str
    email: str
    scopes: frozenset[str] | None = None
    """What an API key may do; None for console sessions (everything the role allows)."""
    key_id: str | None = None
    channel_id: int | None = None
    """The channel an API key is bound to: its orders are attributed there."""

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}" if self.key_id is None else f"user:{self.user_id}/key:{self.key_id}"

    def can(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes


def normalise_email(email: str) -> str:
    """Lower-case and validate an e-mail address, or raise naming the field."""
    value = email.strip().lower()
    if not EMAIL.match(value) or len(value) > 254:
        raise errors.BAD_EMAIL(field="email")
    return value


def create_user(session: Session, *, email: str, password: str, role: str, display_name: str = "") -> User:
    """Create an account; e-mail addresses are unique regardless of case."""
    if role not in ROLES:
        raise errors.UNKNOWN_ROLE(field="role", choices=list(ROLES))
    if len(password) < MIN_PASSWORD:
        raise errors.PASSWORD_TOO_SHORT(field="password", min_length=MIN_PASSWORD)
    address = normalise_email(email)
    if session.scalar(select(func.count()).select_from(User).where(User.email == address)):
        raise errors.EMAIL_TAKEN(field="email")
    user = User(email=address, password_hash=hash_password(password), role=role, display_name=display_name)
    try:
        with session.begin_nested():  # two sign-ups racing for one address: the loser gets 409, not 500
            session.add(user)
    except IntegrityError as exc:
        raise errors.EMAIL_TAKEN(field="email") from exc
    record(session, actor="system", action="user.create", target_type="user", target_id=str(user.id), role=role)
    return user


def authenticate(session: Session, *, email: str, password: str) -> User:
    """Return the active user with these credentials; one message for every failure."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise errors.WRONG_CREDENTIALS()
    return user


def issue_token(user: User, *, secret: bytes, ttl_seconds: int) -> str:
    """A short-lived console JWT naming the user and role."""
    now = utcnow()
    claims = {"sub": str(user.id), "role": user.role, "email": user.email, "iat": now, "exp": now + timedelta(seconds=ttl_seconds)}
    return jwt.encode(claims, secret, algorithm=JWT_ALG)


def principal_from_token(token: str, *, secret: bytes) -> Principal:
    """Decode and check a console JWT; expired or forged tokens raise ``Unauthorized``."""
    try:
        claims = jwt.decode(token, secret, algorithms=[JWT_ALG], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise errors.SESSION_EXPIRED() from exc
    except jwt.PyJWTError as exc:
        raise errors.INVALID_TOKEN() from exc
    return Principal(user_id=int(claims["sub"]), role=str(claims.get("role", "")), email=str(claims.get("email", "")))


def require_role(principal: Principal | None, *roles: str) -> Principal:
    """Raise unless the caller has one of ``roles``."""
    if principal is None:
        raise errors.SIGN_IN_FIRST(hint="sign in first")
    if principal.role not in roles:
        raise errors.HIDDEN()  # do not reveal that the resource exists
    return principal


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise errors.USER_NOT_FOUND()
    return user


def get_user_by_email(session: Session, email: str) -> User:
    """The account with this e-mail (any case), or ``NotFound``: the console finds people by address."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise errors.NO_USER_WITH_EMAIL()
    return user


def list_users(session: Session, *, role: str | None = None, limit: int = 200) -> list[User]:
    """Newest accounts first, optionally of one role (the console's people list)."""
    query = select(User).order_by(User.id.desc()).limit(limit)
    if role:
        query = query.where(User.role == role)
    return list(session.scalars(query))


def emails_of(session: Session, user_ids: list[int]) -> dict[int, str]:
    """``{user_id: e-mail}`` for these accounts, in one query."""
    if not user_ids:
        return {}
    return dict(session.execute(_EMAILS, {"ids": user_ids}).tuples().all())


_EMAILS = select(User.id, User.email).where(User.id.in_(bindparam("ids", expanding=True)))
