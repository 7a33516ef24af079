"""The distributor tree: invites, joining, approval, suspension, branch visibility."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keyrelay.audit.service import record
from keyrelay.distribution import errors, rules
from keyrelay.distribution.models import Channel, Invite
from keyrelay.distribution.models import Distributor as Distributor  # re-exported: the public type of a distributor
from keyrelay.identity import service as identity
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import memo
from keyrelay.kit.states import move_row

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")
RESERVED_SLUGS = frozenset({"admin", "api", "static", "www", "main", "s", "d", "join"})


@dataclass(frozen=True)
class Actor:
    """Who acts on the network: the operator, or a distributor (by its user id)."""

    user_id: int
    role: str

    @property
    def label(self) -> str:
        return f"user:{self.user_id}"


_BY_USER = select(Distributor).where(Distributor.user_id == bindparam("user_id"))
"""Built once: hot-path statements built per call cost ~40 % more CPU than the query itself (docs/performance.md)."""


def for_user(session: Session, user_id: int) -> Distributor:
    found = session.scalar(_BY_USER, {"user_id": user_id})
    if found is None:
        raise errors.NOT_A_DISTRIBUTOR()
    return found


def get(session: Session, distributor_id: int) -> Distributor:
    found = session.get(Distributor, distributor_id)
    if found is None:
        raise errors.DISTRIBUTOR_NOT_FOUND(resource="distributor", id=distributor_id)
    return found


def get_by_slug(session: Session, slug: str) -> Distributor:
    found = session.scalar(select(Distributor).where(Distributor.slug == slug.lower()))
    if found is None:
        raise errors.NO_SHOP(slug=slug)
    return found


def get_by_host(session: Session, host: str) -> Distributor | None:
    return session.scalar(select(Distributor).where(Distributor.host == host.lower().split(":")[0]))


def in_branch(ancestor: Distributor, target: Distributor) -> bool:
    """True if ``target`` is ``ancestor`` or below it."""
    return target.path.startswith(ancestor.path)


def visible(session: Session, viewer: Distributor, distributor_id: int) -> Distributor:
    """A distributor the viewer may see (itself or its downline); others look missing."""
    target = session.get(Distributor, distributor_id)
    if target is None or not in_branch(viewer, target):
        raise errors.DISTRIBUTOR_NOT_FOUND(resource="distributor", id=distributor_id)
    return target


def chain(session: Session, distributor: Distributor) -> list[Distributor]:
    """Level 1 down to ``distributor`` itself."""
    known: dict[str, list[Distributor]] = memo(session, "network.chains")
    if distributor.path not in known:  # pricing and the self-dealing check both walk the buyer's chain
        ids = [int(part) for part in distributor.path.strip("/").split("/")]
        above = ids[:-1]  # the distributor itself is at hand: a level-1 chain needs no query
        rows = {d.id: d for d in session.scalars(_BY_IDS, {"ids": above})} if above else {}
        rows[distributor.id] = distributor
        known[distributor.path] = [rows[i] for i in ids]
    return list(known[distributor.path])


_BY_IDS = select(Distributor).where(Distributor.id.in_(bindparam("ids", expanding=True)))


def downline(session: Session, distributor: Distributor, *, limit: int = 500) -> list[Distributor]:
    """Everyone below ``distributor`` (not itself), shallowest first."""
    query = (
        select(Distributor)
        .where(Distributor.path.startswith(distributor.path, autoescape=True), Distributor.id != distributor.id)
        .order_by(Distributor.level, Distributor.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def tree(session: Session, *, limit: int = 2000) -> list[Distributor]:
    """The whole network in path order (parents before children), for the operator."""
    return list(session.scalars(select(Distributor).order_by(Distributor.path).limit(limit)))


def create_invite(
    session: Session,
    actor: Actor,
    *,
    parent_id: int | None,
    max_uses: int = 1,
    ttl_hours: int = 72,
    requires_approval: bool = False,
    max_depth: int,
) -> Invite:
    """An invite to join under ``parent_id`` (None: level 1, operator only)."""
    if not 1 <= max_uses <= 1000:
        raise errors.BAD_MAX_USES(field="max_uses")
    if not 1 <= ttl_hours <= 24 * 90:
        raise errors.BAD_TTL(field="ttl_hours")
    if actor.role != "operator":
        own = for_user(session, actor.user_id)
        if parent_id != own.id:
            raise errors.INVITE_OWN_BRANCH()
        if own.status != "active":
            raise errors.INACTIVE_CANNOT_INVITE()
        requires_approval = requires_approval or False
    if parent_id is not None and get(session, parent_id).level >= max_depth:
        raise errors.TOO_DEEP(field="parent_id", max_depth=max_depth)
    invite = Invite(
        code=secrets.token_urlsafe(12),
        distributor_id=parent_id,
        created_by=actor.user_id,
        max_uses=max_uses,
        requires_approval=requires_approval,
        expires_at=utcnow() + timedelta(hours=ttl_hours),
    )
    session.add(invite)
    session.flush()
    record(session, actor=actor.label, action="invite.create", target_type="invite", target_id=str(invite.id), parent_id=parent_id)
    return invite


@dataclass(frozen=True)
class JoinRequest:
    code: str
    email: str
    password: str
    name: str
    slug: str


def join(session: Session, request: JoinRequest, *, max_depth: int) -> Distributor:
    """Redeem an invite: a new distributor account one level below the inviter."""
    slug = _check_slug(session, request.slug)
    name = request.name.strip()
    if not 1 <= len(name) <= 80:
        raise errors.SHOP_NAME(field="name")
    invite = session.scalar(select(Invite).where(Invite.code == request.code.strip()))
    if invite is None:
        raise errors.INVITE_NOT_FOUND()
    _redeem(session, invite)
    parent = get(session, invite.distributor_id) if invite.distributor_id else None
    level = parent.level + 1 if parent else 1
    if level > max_depth:
        raise errors.TOO_DEEP(field="code", max_depth=max_depth)
    if parent is not None and parent.status != "active":
        raise errors.INVITER_INACTIVE()
    user = identity.create_user(session, email=request.email, password=request.password, role="distributor", display_name=name)
    distributor = Distributor(
        user_id=user.id,
        parent_id=parent.id if parent else None,
        level=level,
        path="",
        slug=slug,
        name=name,
        status="pending" if invite.requires_approval else "active",
        invite_id=invite.id,
    )
    try:
        with session.begin_nested():
            session.add(distributor)
    except IntegrityError as exc:  # a concurrent join took the address after _check_slug looked
        raise errors.SLUG_TAKEN(field="slug") from exc
    distributor.path = f"{parent.path if parent else '/'}{distributor.id}/"
    session.add(Channel(distributor_id=distributor.id, name="Sub-site", kind="subsite"))
    record(
        session,
        actor=f"user:{user.id}",
        action="distributor.join",
        target_type="distributor",
        target_id=str(distributor.id),
        invite_id=invite.id,
        level=level,
    )
    return distributor


def _redeem(session: Session, invite: Invite) -> None:
    # Conditional increment: two people racing for the last use cannot both win.
    result = session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.uses < Invite.max_uses, Invite.expires_at > utcnow())
        .values(uses=Invite.uses + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.INVITE_USED(field="code")


def _check_slug(session: Session, raw: str) -> str:
    slug = raw.strip().lower()
    if not SLUG.match(slug) or "--" in slug or slug in RESERVED_SLUGS:
        raise errors.BAD_SLUG(field="slug")
    if session.scalar(select(Distributor.id).where(Distributor.slug == slug)) is not None:
        raise errors.SLUG_TAKEN(field="slug")
    return slug


def set_status(session: Session, distributor_id: int, target: str, *, actor: Actor, reason: str = "") -> Distributor:
    """Operator approves (pending → active), suspends, or reinstates a distributor."""
    distributor = get(session, distributor_id)
    move_row(session, distributor, rules.DISTRIBUTOR, target)
    record(
        session, actor=actor.label, action=f"distributor.{target}", target_type="distributor", target_id=str(distributor.id), reason=reason
    )
    return distributor


def require_active(distributor: Distributor) -> None:
    if distributor.status != "active":
        raise errors.NOT_ACTIVE()


def branch_ids(distributor: Distributor) -> Select[tuple[int]]:
    """A subquery of the ids of ``distributor`` and its whole downline (for scoping reads)."""
    return select(Distributor.id).where(Distributor.path.startswith(distributor.path, autoescape=True))


def update_site(
    session: Session, distributor: Distributor, *, name: str, logo_url: str, notice: str, contact: str, host: str | None
) -> None:
    """Sub-site settings a distributor controls."""
    name = name.strip()
    if not 1 <= len(name) <= 80:
        raise errors.SHOP_NAME(field="name")
    if logo_url and not re.match(r"^(https?://|/)[^\s<>\"']{1,490}$", logo_url.strip()):
        raise errors.BAD_LOGO(field="logo_url")
    clean_host = (host or "").strip().lower() or None
    if clean_host and not re.match(r"^(?=.{4,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$", clean_host):
        raise errors.BAD_HOST(field="host")
    if clean_host and session.scalar(select(Distributor.id).where(Distributor.host == clean_host, Distributor.id != distributor.id)):
        raise errors.HOST_TAKEN(field="host")
    distributor.name, distributor.logo_url = name, logo_url.strip()
    distributor.notice, distributor.contact, distributor.host = notice.strip()[:2000], contact.strip()[:200], clean_host


def invites_under(session: Session, parent: Distributor, *, limit: int = 50) -> list[Invite]:
    """Invites to join directly under ``parent``, newest first (its own list: never another's)."""
    query = select(Invite).where(Invite.distributor_id == parent.id).order_by(Invite.id.desc()).limit(limit)
    return list(session.scalars(query))


def recent_invites(session: Session, *, limit: int = 50) -> list[Invite]:
    """Every invite in the network, newest first (the operator's view)."""
    return list(session.scalars(select(Invite).order_by(Invite.id.desc()).limit(limit)))
