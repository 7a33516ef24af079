"""End-to-end harness: real ``keyrelay serve`` processes driven over HTTP.

``deploy(backend, servers=N)`` starts N server processes on one fresh database
(SQLite file or a throw-away PostgreSQL database). The first process migrates
the schema and runs the background worker; the others start after it is ready,
with ``--no-worker``, the way a multi-process deployment runs. Everything is
stopped (SIGINT, then kill) and the PostgreSQL database dropped at teardown.

Data is set up the way an operator would: ``keyrelay user create`` on the
command line, then the admin API with a bearer token.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest


def _load_root_conftest() -> ModuleType:
    # tests/ is not a package and every conftest.py is imported as "conftest", so load the
    # shared helpers by path under a private name rather than trusting sys.modules.
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_keyrelay_root_conftest", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_root = _load_root_conftest()
create_pg_database: Callable[[], str] = _root.create_pg_database
drop_pg_database: Callable[[str], None] = _root.drop_pg_database

KEYRELAY = Path(sys.executable).with_name("keyrelay")
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
OPERATOR_EMAIL = "ops@example.com"
OPERATOR_PASSWORD = "e2e-operator-pass"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, data_dir: Path, secrets: dict[str, str]) -> dict[str, str]:
    """The process environment: ours, minus any KEYRELAY_* of the caller, plus the test's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYRELAY_")}
    env.update(secrets)
    env.update(KEYRELAY_DATABASE_URL=database_url, KEYRELAY_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    return env


class ServerProcess:
    """One ``keyrelay serve`` child; its output goes to a log file so a full pipe never blocks it."""

    def __init__(self, env: dict[str, str], workdir: Path, *, worker: bool, name: str) -> None:
        self.env, self.workdir, self.worker = env, workdir, worker
        self.log_path = workdir / f"{name}.log"
        self._launch()

    def _launch(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [str(KEYRELAY), "serve", "--port", str(self.port)]
        if not self.worker:
            args.append("--no-worker")
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        """This run's output (a restart appends to the same file)."""
        with self.log_path.open("rb") as log:
            log.seek(self.log_offset)
            return log.read().decode(errors="replace")[-8000:]

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        port_retries = 2
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "address already in use" in self.log().lower() and port_retries:
                    port_retries -= 1  # someone took the free port between our probe and the bind
                    self._launch()
                    continue
                pytest.fail(f"server on {self.url} exited with {self.proc.returncode} before it was ready:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"server on {self.url} not ready after {timeout:.0f}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)


@dataclass
class Deployment:
    """N server processes sharing one database, plus the CLI with the same settings."""

    backend: str
    database_url: str
    workdir: Path
    env: dict[str, str]
    servers: list[ServerProcess] = field(default_factory=list)
    operator_created: bool = False
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.servers[0].url

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def start(self, count: int = 1) -> None:
        """Start ``count`` servers: the first migrates and runs the worker, then the rest in parallel."""
        first = not self.servers
        if first:
            self.servers.append(ServerProcess(self.env, self.workdir, worker=True, name="server0"))
            self.servers[0].wait_ready()
            count -= 1
        more = [ServerProcess(self.env, self.workdir, worker=False, name=f"server{len(self.servers) + i}") for i in range(count)]
        self.servers.extend(more)
        for server in more:
            server.wait_ready()

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()
        for server in self.servers:
            server.stop()
        self.servers.clear()

    def client(self, server: int = 0, **kwargs: Any) -> httpx.Client:
        """An HTTP client for one of the servers, closed when the deployment stops."""
        client = httpx.Client(base_url=self.servers[server].url, timeout=kwargs.pop("timeout", 30), **kwargs)
        self.clients.append(client)
        return client

    def restart(self) -> None:
        count = len(self.servers)
        self.stop()
        self.start(count)

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``keyrelay ARGS`` with this deployment's settings."""
        done = subprocess.run(
            [str(KEYRELAY), *args], cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            pytest.fail(f"keyrelay {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def admin(self, server: int = 0) -> Admin:
        """An operator's API client (the operator account is created on first use)."""
        if not self.operator_created:
            self.cli("user", "create", "--role", "operator", "--email", OPERATOR_EMAIL, "--password", OPERATOR_PASSWORD)
            self.operator_created = True
        return Admin.login(self.client(server), OPERATOR_EMAIL, OPERATOR_PASSWORD)


class Admin:
    """Thin wrapper over the operator API for test data setup."""

    def __init__(self, client: httpx.Client) -> None:
        self.http = client

    @classmethod
    def login(cls, client: httpx.Client, email: str, password: str) -> Admin:
        reply = client.post("/api/v1/auth/token", json={"email": email, "password": password})
        assert reply.status_code == 200, reply.text
        client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
        return cls(client)

    def _ok(self, reply: httpx.Response, status: int = 200) -> Any:
        assert reply.status_code == status, f"{reply.request.method} {reply.request.url}: {reply.status_code} {reply.text}"
        return reply.json()

    def create_product(self, *, keys: list[str] | None = None, price_minor: int = 1000, **fields: Any) -> dict[str, Any]:
        """A fresh category + card-key product, with ``keys`` imported."""
        tag = uuid.uuid4().hex[:8]
        category = self._ok(self.http.post("/api/v1/admin/categories", json={"name": f"Cat {tag}", "slug": f"cat-{tag}"}), 201)
        body = {"category_id": category["id"], "name": f"Product {tag}", "slug": f"prod-{tag}", "price_minor": price_minor, **fields}
        product: dict[str, Any] = self._ok(self.http.post("/api/v1/admin/products", json=body), 201)
        if keys:
            report = self.import_keys(product["id"], keys)
            assert report["imported"] == len(keys), report
        return product

    def import_keys(self, product_id: int, keys: list[str]) -> dict[str, Any]:
        reply = self.http.post(f"/api/v1/admin/products/{product_id}/keys", json={"text": "\n".join(keys)})
        result: dict[str, Any] = self._ok(reply, 201)
        return result

    def stock(self, product_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._ok(self.http.get(f"/api/v1/admin/products/{product_id}/stock"))
        return result

    def create_user(self, email: str, password: str, role: str = "buyer") -> dict[str, Any]:
        body = {"email": email, "password": password, "role": role}
        result: dict[str, Any] = self._ok(self.http.post("/api/v1/admin/users", json=body), 201)
        return result


# --- buyer-side helpers ----------------------------------------------------------------------

_FORM_RE = re.compile(r'<form method="post" action="(?P<action>/pay/sandbox/[^"]+)"')
_RETURN_RE = re.compile(r'name="return_to" value="(?P<value>[^"]*)"')


def funded_distributor(deployment: Deployment, admin: Admin, *, name: str, amount_minor: int) -> tuple[str, int]:
    """A level-1 distributor invited by the operator, joined and credited; returns (bearer token, user id)."""
    invite = admin.http.post("/api/v1/admin/invites", json={})
    assert invite.status_code == 201, invite.text
    tag = uuid.uuid4().hex[:8]
    email, password = f"{name.lower().split()[0]}-{tag}@example.com", "distributor-pass-1"
    join = {"code": invite.json()["code"], "email": email, "password": password, "name": name, "slug": f"d-{tag}"}
    assert httpx.post(f"{deployment.url}/api/v1/join", json=join).status_code == 201
    token: str = httpx.post(f"{deployment.url}/api/v1/auth/token", json={"email": email, "password": password}).json()["access_token"]
    user_id = int(httpx.get(f"{deployment.url}/api/v1/me/wallet", headers={"Authorization": f"Bearer {token}"}).json()["user_id"])
    credit = admin.http.post(f"/api/v1/admin/wallets/{user_id}/credit", json={"amount_minor": amount_minor})
    assert credit.status_code == 200, credit.text
    return token, user_id


def make_keys(count: int, prefix: str = "KEY") -> list[str]:
    tag = uuid.uuid4().hex[:6].upper()
    return [f"{prefix}-{tag}-{i:06d}-{uuid.uuid4().hex[:8].upper()}" for i in range(count)]


def pay_with_sandbox(client: httpx.Client, payment_url: str) -> None:
    """Act as the buyer on the gateway: open its page, press Pay (it then notifies the shop)."""
    page = client.get(payment_url)
    assert page.status_code == 200, page.text
    form = _FORM_RE.search(page.text)
    assert form, f"no pay form on the sandbox page:\n{page.text[:2000]}"
    return_to = _RETURN_RE.search(page.text)
    data = {"action": "pay", "return_to": return_to.group("value") if return_to else "/"}
    reply = client.post(form.group("action"), data=data, follow_redirects=False)
    assert reply.status_code == 303, reply.text


def wait_for_status(client: httpx.Client, number: str, token: str, want: str = "delivered", timeout: float = 10.0) -> dict[str, Any]:
    """Poll the buyer's order view until it reaches ``want``; returns the last body."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reply = client.get(f"/api/v1/orders/{number}", params={"token": token})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        if body["order"]["status"] == want:
            return body
        time.sleep(0.2)
    pytest.fail(f"order {number} did not reach {want} in {timeout}s; last: {body.get('order')}")


def assert_problem(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The reply is RFC 9457 problem+json with this status and stable code."""
    assert reply.status_code == status, f"{reply.status_code} {reply.text}"
    assert reply.headers["content-type"].startswith("application/problem+json"), reply.headers["content-type"]
    body: dict[str, Any] = reply.json()
    assert body["code"] == code, body
    assert body["status"] == status, body
    return body


DeployFactory = Callable[..., Deployment]


def deployments(tmp_path_factory: pytest.TempPathFactory, secrets: dict[str, str]) -> Iterator[DeployFactory]:
    """Yield a ``deploy(backend, servers=1)`` factory; stop everything it started afterwards."""
    made: list[Deployment] = []

    def deploy(backend: str, servers: int = 1) -> Deployment:
        workdir = tmp_path_factory.mktemp(f"e2e-{backend}")
        url = f"sqlite:///{workdir / 'keyrelay.db'}" if backend == "sqlite" else create_pg_database()
        deployment = Deployment(backend, url, workdir, server_env(url, workdir, secrets))
        made.append(deployment)
        deployment.start(servers)
        return deployment

    try:
        yield deploy
    finally:
        for deployment in made:
            deployment.stop()
            if deployment.backend == "postgresql":
                drop_pg_database(deployment.database_url)
