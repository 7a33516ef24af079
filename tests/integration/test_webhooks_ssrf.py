"""SSRF guard: webhook URLs must be public http(s), at creation and again at every delivery."""

from __future__ import annotations

import pytest
from webhook_receiver import receiver

from keyrelay.kit.db import Database
from keyrelay.kit.vault import Vault
from keyrelay.webhooks import service, ssrf
from keyrelay.webhooks.delivery import DeliveryConfig, deliver_due, url_policy
from keyrelay.webhooks.errors import WebhookUrlForbidden

from .network_factories import fast_passwords, make_chain, make_operator
from .test_webhooks import attempts_of, deliveries

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")
STRICT = ssrf.UrlPolicy()


def fake_dns(table: dict[str, list[str]]) -> ssrf.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("no such host")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.1/hook", "private_address"),
        ("http://127.0.0.1:8080/hook", "private_address"),
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://[::1]/hook", "private_address"),
        ("http://[::ffff:127.0.0.1]/hook", "private_address"),
        ("http://0.0.0.0/hook", "private_address"),
        ("http://192.168.1.10/hook", "private_address"),
        ("http://100.64.0.1/hook", "private_address"),
        ("http://224.0.0.1/hook", "private_address"),
        ("http://[fe80::1]/hook", "private_address"),
        ("http://localhost/hook", "private_address"),
        ("http://api.localhost:9000/hook", "private_address"),
        ("ftp://93.184.216.34/hook", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://93.184.216.34:70/", "scheme"),
        ("https://user:pw@93.184.216.34/hook", "credentials"),
        ("https:///hook", "malformed"),
        ("https://93.184.216.34:99999/hook", "malformed"),
        ("https://exa mple.com/", "malformed"),
        ("https://nowhere.invalid/hook", "unresolvable"),
    ],
)
def test_forbidden_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(WebhookUrlForbidden) as refused:
        ssrf.check(url, ssrf.UrlPolicy(resolve=fake_dns({})))
    assert refused.value.reason == reason
    assert refused.value.code == "webhook_url_forbidden"
    assert refused.value.status == 422


def test_a_name_is_refused_if_any_of_its_addresses_is_private() -> None:
    policy = ssrf.UrlPolicy(resolve=fake_dns({"mixed.example": ["93.184.216.34", "10.1.2.3"], "inside.example": ["127.0.0.1"]}))
    for host in ("mixed.example", "inside.example"):
        with pytest.raises(WebhookUrlForbidden) as refused:
            ssrf.check(f"https://{host}/hook", policy)
        assert refused.value.reason == "private_address"


def test_public_names_are_pinned_to_the_checked_address() -> None:
    policy = ssrf.UrlPolicy(resolve=fake_dns({"hooks.example.com": ["93.184.216.34"], "v6.example.com": ["2606:2800:220:1::248"]}))
    target = ssrf.check("https://hooks.example.com:8443/in?x=1", policy)
    assert target == ssrf.Target(
        "https://93.184.216.34:8443/in?x=1", host_header="hooks.example.com:8443", sni_hostname="hooks.example.com"
    )
    v6 = ssrf.check("http://v6.example.com/in", policy)
    assert v6 == ssrf.Target("http://[2606:2800:220:1::248]/in", host_header="v6.example.com", sni_hostname=None)
    assert ssrf.check("https://93.184.216.34/in", STRICT).url == "https://93.184.216.34/in"


def test_the_operator_may_allow_private_addresses() -> None:
    allowed = ssrf.UrlPolicy(allow_private=True)
    for url in ("http://127.0.0.1:8080/hook", "http://10.0.0.1/hook", "http://localhost/hook", "http://[::1]/hook"):
        assert ssrf.check(url, allowed).url == url
    with pytest.raises(WebhookUrlForbidden):
        ssrf.check("ftp://127.0.0.1/hook", allowed)  # the scheme rule stays


def test_production_requires_https_unless_private_addresses_are_allowed() -> None:
    production = ssrf.UrlPolicy(require_https=True)
    with pytest.raises(WebhookUrlForbidden) as refused:
        ssrf.check("http://93.184.216.34/hook", production)
    assert refused.value.reason == "https_required"
    assert ssrf.check("https://93.184.216.34/hook", production).url == "https://93.184.216.34/hook"
    assert ssrf.check("http://10.0.0.1/hook", ssrf.UrlPolicy(require_https=True, allow_private=True)).url == "http://10.0.0.1/hook"


class FakeSettings:
    def __init__(self, vault: Vault, *, env: str = "dev", allow_private: bool = False) -> None:
        self.vault, self.env, self.webhooks_allow_private = vault, env, allow_private
        self.webhooks_timeout_seconds, self.webhooks_backoff_scale = 10.0, 1.0


def test_policy_follows_the_settings(vault: Vault) -> None:
    assert url_policy(FakeSettings(vault)) == ssrf.UrlPolicy(allow_private=False, require_https=False)
    assert url_policy(FakeSettings(vault, env="production")).require_https
    assert url_policy(FakeSettings(vault, allow_private=True)).allow_private


def test_creation_refuses_forbidden_urls(db: Database, vault: Vault) -> None:
    with db.transaction() as s:
        op = make_operator(s)
        (a1,) = make_chain(s, op.id, 1)
    for url in (
        "http://10.0.0.1/x",
        "http://127.0.0.1/x",
        "http://169.254.169.254/x",
        "http://[::1]/x",
        "http://localhost/x",
        "ftp://x.example/",
    ):
        with pytest.raises(WebhookUrlForbidden), db.transaction() as s:
            service.create_endpoint(s, user_id=a1.user_id, url=url, vault=vault, policy=STRICT, actor="t")
    assert deliveries(db) == []
    with db.transaction() as s:
        made = service.create_endpoint(s, user_id=a1.user_id, url="https://93.184.216.34/x", vault=vault, policy=STRICT, actor="t")
        assert made.endpoint.enabled
        with pytest.raises(WebhookUrlForbidden):
            service.update_endpoint(
                s,
                user_id=a1.user_id,
                public_id=made.endpoint.public_id,
                changes=service.EndpointChanges(url="http://10.0.0.1/x"),
                policy=STRICT,
                actor="t",
            )


def test_delivery_time_check_stops_a_url_that_is_no_longer_allowed(db: Database, vault: Vault) -> None:
    """Created while private addresses were allowed; the operator then forbade them: nothing is sent."""
    with receiver() as rx:
        with db.transaction() as s:
            op = make_operator(s)
            (a1,) = make_chain(s, op.id, 1)
            made = service.create_endpoint(
                s, user_id=a1.user_id, url=rx.url, vault=vault, policy=ssrf.UrlPolicy(allow_private=True), actor="t"
            )
            delivery_id = service.send_test(s, user_id=a1.user_id, public_id=made.endpoint.public_id, actor="t").id
        assert deliver_due(db, DeliveryConfig(vault=vault, policy=STRICT, backoff_scale=0)) == 1
        assert rx.received == []
    (attempt,) = attempts_of(db, delivery_id)
    assert attempt.status_code is None
    assert attempt.error.startswith("webhook_url_forbidden")
    assert deliveries(db)[0].status == "failed"
