"""SSRF guard: webhooks go to public http(s) addresses only, checked at creation and at every send.

A hostname is resolved and every address it returns must be public (an attacker
controlling DNS may mix a public and a private answer). At send time the request
is pinned to the address that was checked — the URL's host becomes that IP, the
``Host`` header and TLS SNI/certificate check keep the name — so a DNS answer
that changes between check and connect (rebinding) cannot reach inside.
The operator may allow private addresses (``KEYRELAY_WEBHOOKS_ALLOW_PRIVATE``),
e.g. for receivers on the same LAN or tests on loopback.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from keyrelay.webhooks.errors import WebhookUrlForbidden

MAX_URL_LENGTH = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
"""``resolve(host, port)`` → the IP addresses the host name stands for."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class UrlPolicy:
    """What the instance accepts as a webhook URL."""

    allow_private: bool = False
    require_https: bool = False
    resolve: Resolver = system_resolver


@dataclass(frozen=True)
class Target:
    """Where to send: ``url`` (host replaced by the checked IP), plus the name for Host/SNI."""

    url: str
    host_header: str | None = None
    sni_hostname: str | None = None


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast only: no private, loopback, link-local, multicast, reserved or unspecified."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    special = (
        address.is_private,
        address.is_loopback,
        address.is_link_local,
        address.is_multicast,
        address.is_reserved,
        address.is_unspecified,
    )
    return address.is_global and not any(special)


def parse(url: str, policy: UrlPolicy) -> SplitResult:
    """Shape checks that need no DNS: scheme, host, no credentials, https when required."""
    if len(url) > MAX_URL_LENGTH or any(ch.isspace() for ch in url):
        raise WebhookUrlForbidden(f"the URL must be at most {MAX_URL_LENGTH} characters without spaces", reason="malformed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlForbidden("the URL cannot be parsed", reason="malformed") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlForbidden("webhook URLs must be http:// or https://", reason="scheme")
    if not parts.hostname:
        raise WebhookUrlForbidden("the URL has no host", reason="malformed")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlForbidden("put credentials in the path or query, not in user:password@", reason="credentials")
    if policy.require_https and not policy.allow_private and parts.scheme != "https":
        raise WebhookUrlForbidden("webhook URLs must use https", reason="https_required")
    if port == 0:
        raise WebhookUrlForbidden("the URL's port is invalid", reason="malformed")
    return parts


def check(url: str, policy: UrlPolicy) -> Target:
    """Refuse a URL that is malformed or reaches a non-public address; return where to connect."""
    parts = parse(url, policy)
    if policy.allow_private:
        return Target(url)
    host = parts.hostname or ""
    addresses = _addresses(host, parts.port or (443 if parts.scheme == "https" else 80), policy)
    forbidden = [a for a in addresses if not is_public(a)]
    if forbidden:
        raise WebhookUrlForbidden(f"{host} is a private, loopback or reserved address ({forbidden[0]})", reason="private_address")
    pinned = addresses[0]
    ip_host = f"[{pinned}]" if pinned.version == 6 else str(pinned)
    netloc = ip_host + (f":{parts.port}" if parts.port else "")
    host_header = parts.netloc.rpartition("@")[2]
    return Target(
        urlunsplit(parts._replace(netloc=netloc)),
        host_header=host_header,
        sni_hostname=host if parts.scheme == "https" else None,
    )


def _addresses(host: str, port: int, policy: UrlPolicy) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        raise WebhookUrlForbidden(f"{host} is a loopback address", reason="private_address")
    try:
        found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in policy.resolve(name, port)]
    except (OSError, UnicodeError, ValueError):
        found = []
    if not found:
        raise WebhookUrlForbidden(f"{host} does not resolve", reason="unresolvable")
    return found
