"""What a caller may read: the whole network (the operator) or one branch (a distributor and its downline).

Every listing of orders, sales, the downline and money takes a ``Reach``; it is
the only way to list, so no handler composes branch filters itself. An id
outside the reach — as a path segment or as a filter — answers ``NotFound``
with exactly the words a missing id gets, so a distributor learns nothing of
another branch, not even that an id exists there.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select
from sqlalchemy.orm import Session

from keyrelay.distribution import errors, network
from keyrelay.distribution.models import Channel, Distributor
from keyrelay.identity.service import Principal

OPERATOR = "operator"


@dataclass(frozen=True)
class Reach:
    """Build with ``Reach.everything()`` or ``Reach.branch(shop)``, or from a caller with ``of``."""

    shop: Distributor | None
    """The distributor whose branch this is; None: the operator's reach, the whole network and every account."""

    @classmethod
    def everything(cls) -> Reach:
        return cls(None)

    @classmethod
    def branch(cls, shop: Distributor) -> Reach:
        return cls(shop)

    @property
    def user_id(self) -> int | None:
        """Whose own things (wallet, withdrawals) are readable; None: every account's."""
        return self.shop.user_id if self.shop is not None else None

    def seller_ids(self) -> Select[tuple[int]] | None:
        """The ids of the distributors in reach as a subquery; None: no restriction."""
        return network.branch_ids(self.shop) if self.shop is not None else None

    def distributor(self, session: Session, distributor_id: int) -> Distributor:
        """A distributor in reach; any other id — of another branch or of nobody — is NotFound."""
        if self.shop is None:
            return network.get(session, distributor_id)
        return network.visible(session, self.shop, distributor_id)

    def channel(self, session: Session, channel_id: int) -> Channel:
        """A channel of a distributor in reach (the main site's only for the operator); others are NotFound."""
        found = session.get(Channel, channel_id)
        if found is None or not self._covers(session, found.distributor_id):
            raise errors.CHANNEL_NOT_FOUND(resource="channel", id=channel_id)
        return found

    def downline(self, session: Session) -> list[Distributor]:
        """Everyone below the shop, shallowest first; for the operator the whole tree in path order."""
        if self.shop is None:
            return network.tree(session)
        return network.downline(session, self.shop)

    def _covers(self, session: Session, distributor_id: int | None) -> bool:
        if self.shop is None:
            return True
        if distributor_id is None:
            return False
        target = session.get(Distributor, distributor_id)
        return target is not None and network.in_branch(self.shop, target)


def of(session: Session, who: Principal) -> Reach:
    """The reach of a signed-in caller: the operator's is everything, a distributor's its branch.

    Any other account has no place in the network, which reads as NotFound.
    """
    if who.role == OPERATOR:
        return Reach.everything()
    return Reach.branch(network.for_user(session, who.user_id))


__all__ = ["Reach", "of"]
