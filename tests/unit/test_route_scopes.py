"""Every /api/v1 route that takes a caller declares what an API key needs, and checks it before the body.

Walks the app's routes (not the OpenAPI document): a new route that takes a
``Principal`` without a guard, or a router that forgets ``GuardedRoute``, fails
here before any key can use it.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from keyrelay.identity.scopes import DESCRIPTIONS, SCOPES, Scope
from keyrelay.identity.service import Principal
from keyrelay.web import auth
from keyrelay.web.auth import Guard, GuardedRoute, guards_of

#: Routes anyone may call: they take no caller at all.
PUBLIC = {
    "POST /api/v1/auth/token",
    "POST /api/v1/auth/register",
    "GET /api/v1/catalog/categories",
    "GET /api/v1/catalog/products",
    "GET /api/v1/catalog/products/{product_id}",
    "POST /api/v1/join",
    "GET /api/v1/orders/{number}",
    "POST /api/v1/orders/lookup",
    "POST /api/v1/orders/{number}/cancel",
    "GET /api/v1/payments/{provider}/notify",
    "POST /api/v1/payments/{provider}/notify",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    from keyrelay.app import create_app
    from keyrelay.config import Settings
    from keyrelay.kit.vault import format_vault_keys, generate_vault_key

    tmp: Path = tmp_path_factory.mktemp("routes")
    settings = Settings(
        database_url=f"sqlite:///{tmp}/routes.db",
        data_dir=tmp,
        vault_keys=format_vault_keys([generate_vault_key("routes")]),
        secret_key="routes-" + "z" * 40,
        _env_file=None,  # type: ignore[call-arg]
    )
    return create_app(settings)


def _api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and (context.path or "").startswith("/api/v1"):
            for method in sorted(context.methods or ()):
                yield f"{method} {context.path}", route


def _takes_a_caller(dependant: Dependant) -> bool:
    """The route (or one of its dependencies) receives a Principal or resolves the caller."""
    if dependant.call in (auth.optional_principal, auth.caller) or isinstance(dependant.call, Guard):
        return True
    if dependant.call is not None:
        hints = typing.get_type_hints(dependant.call, include_extras=False) if inspect.isfunction(dependant.call) else {}
        if any(Principal in (hint, *typing.get_args(hint)) for name, hint in hints.items() if name != "return"):
            return True
    return any(_takes_a_caller(sub) for sub in dependant.dependencies)


def test_every_route_that_takes_a_caller_declares_its_scope(app: FastAPI) -> None:
    routes = dict(_api_routes(app))
    assert len(routes) > 60
    undeclared = [name for name, route in routes.items() if _takes_a_caller(route.dependant) and not guards_of(route.dependant)]
    assert not undeclared, f"declare a scope with web.auth.requires(...) on: {undeclared}"
    public = {name for name, route in routes.items() if not _takes_a_caller(route.dependant)}
    assert public == PUBLIC, "a route takes no caller: is it really public? (update PUBLIC if so)"


def test_every_route_declares_exactly_one_guard(app: FastAPI) -> None:
    doubled = {name: guards_of(route.dependant) for name, route in _api_routes(app) if len(guards_of(route.dependant)) > 1}
    assert not doubled


def test_every_api_route_checks_its_guard_before_the_body(app: FastAPI) -> None:
    plain = [name for name, route in _api_routes(app) if not isinstance(route, GuardedRoute)]
    assert not plain, f"use APIRouter(route_class=GuardedRoute) for: {plain}"


def test_the_scopes_are_the_documented_six() -> None:
    assert SCOPES == ("catalog:read", "orders:write", "money:write", "network:manage", "webhooks:manage", "keys:manage")
    assert set(DESCRIPTIONS) == set(Scope)
    assert all(scope.description for scope in Scope)


def test_scopes_that_move_money_or_rights_are_never_a_read(app: FastAPI) -> None:
    """The reported holes: the URL no longer decides; these routes name their own scope."""
    declared = {name: guards_of(route.dependant)[0].scope for name, route in _api_routes(app) if guards_of(route.dependant)}
    assert declared["POST /api/v1/orders"] == Scope.ORDERS_WRITE
    assert declared["POST /api/v1/distributor/purchases"] == Scope.ORDERS_WRITE
    assert declared["POST /api/v1/distributor/withdrawals"] == Scope.MONEY_WRITE
    assert declared["PUT /api/v1/distributor/me/site"] == Scope.NETWORK_MANAGE
    assert declared["DELETE /api/v1/distributor/api-keys/{key_id}"] == Scope.KEYS_MANAGE
    assert declared["POST /api/v1/distributor/api-keys"] is None  # console sessions only
    assert {scope for name, scope in declared.items() if name.startswith(("GET", "HEAD"))} <= {
        Scope.CATALOG_READ,
        Scope.WEBHOOKS_MANAGE,
        Scope.KEYS_MANAGE,
        None,
    }
    assert all(scope is None for name, scope in declared.items() if " /api/v1/admin/" in name)
