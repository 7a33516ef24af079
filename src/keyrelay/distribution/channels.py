"""Channels: every order is attributed to exactly one named outlet."""

from __future__ import annotations

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keyrelay.distribution import errors
from keyrelay.distribution.models import Channel as Channel  # re-exported: the public type of a channel
from keyrelay.distribution.models import Distributor

KINDS = ("subsite", "api", "taobao", "telegram", "website", "other")


def main_channel(session: Session) -> Channel:
    """The platform's own storefront channel (created on first use)."""
    found = session.scalar(select(Channel).where(Channel.distributor_id.is_(None), Channel.kind == "main"))
    if found is None:
        found = Channel(distributor_id=None, name="Main site", kind="main")
        session.add(found)
        session.flush()
    return found


def subsite_channel(session: Session, distributor: Distributor) -> Channel:
    query = select(Channel).where(Channel.distributor_id == distributor.id, Channel.kind == "subsite")
    return _get_or_create(session, query, Channel(distributor_id=distributor.id, name="Sub-site", kind="subsite"))


def wholesale_channel(session: Session, distributor: Distributor) -> Channel:
    """Where a distributor's own purchases land unless it names a channel."""
    found = session.scalar(_WHOLESALE, {"distributor_id": distributor.id})
    if found is not None:
        return found
    query = select(Channel).where(Channel.distributor_id == distributor.id, Channel.name == "Wholesale")
    return _get_or_create(session, query, Channel(distributor_id=distributor.id, name="Wholesale", kind="other"))


_WHOLESALE = select(Channel).where(Channel.distributor_id == bindparam("distributor_id"), Channel.name == "Wholesale")
"""Built once: the hot path looks it up on every wholesale purchase."""


def _get_or_create(session: Session, query: Select[tuple[Channel]], new: Channel) -> Channel:
    found = session.scalar(query)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            session.add(new)
    except IntegrityError:  # concurrent first orders both missed it: the loser uses the winner's row
        return session.scalars(query).one()
    return new


def create(session: Session, distributor: Distributor, *, name: str, kind: str) -> Channel:
    name = name.strip()
    if not 1 <= len(name) <= 60:
        raise errors.CHANNEL_NAME(field="name")
    if kind not in KINDS or kind == "subsite":
        raise errors.CHANNEL_KIND(field="kind", choices=[k for k in KINDS if k != "subsite"])
    channel = Channel(distributor_id=distributor.id, name=name, kind=kind)
    try:
        with session.begin_nested():
            session.add(channel)
    except IntegrityError as exc:
        raise errors.CHANNEL_NAME_TAKEN(field="name") from exc
    return channel


def list_for(session: Session, distributor: Distributor) -> list[Channel]:
    return list(session.scalars(select(Channel).where(Channel.distributor_id == distributor.id).order_by(Channel.id)))


def owned(session: Session, distributor: Distributor, channel_id: int) -> Channel:
    """A channel of this distributor, or NotFound (never another's)."""
    channel = session.get(Channel, channel_id)
    if channel is None or channel.distributor_id != distributor.id:
        raise errors.CHANNEL_NOT_FOUND(resource="channel", id=channel_id)
    if not channel.is_active:
        raise errors.CHANNEL_OFF(field="channel")
    return channel


def by_name(session: Session, distributor: Distributor, name: str) -> Channel:
    channel = session.scalar(select(Channel).where(Channel.distributor_id == distributor.id, Channel.name == name))
    if channel is None:
        raise errors.CHANNEL_NAME_NOT_FOUND(resource="channel", name=name)
    return channel
