"""CPU per signed wholesale purchase, one request at a time, through the real ASGI app in-process.

    .venv/bin/python bench/purchase_cpu.py --backend both [--purchases 200 --rounds 5]

No HTTP server, no load generator, no worker: the process's own CPU time
(``time.process_time``) over ``--purchases`` sequential purchases, repeated
``--rounds`` times; the minimum and median per purchase are printed. On a noisy
shared machine this is steadier than the ``keyrelay bench`` figures, and it
isolates the request path (auth, idempotency, pricing, ledger, response) from
contention — the figure to compare before and after a change to that path.
The store is ``keyrelay bench``'s own (a three-level tree; buyers at all three
levels in turn), in a throw-away PostgreSQL database or SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from keyrelay.bench import run as bench_run
from keyrelay.bench.load import PATH, signed_headers
from keyrelay.bench.scenario import SCENARIOS, Plan, load_store
from keyrelay.kit.db import Database
from keyrelay.kit.migrate import upgrade

WARM_UP = 30


def measure(backend: str, *, purchases: int, rounds: int, admin_url: str) -> list[float]:
    """Milliseconds of CPU per purchase, one figure per round."""
    scenario = SCENARIOS["sqlite" if backend == "sqlite" else "spread"]
    workdir = Path(tempfile.mkdtemp(prefix="keyrelay-cpu-"))
    with bench_run._database(scenario, admin_url, workdir) as (url, _name):
        env = bench_run._server_env(url, workdir)
        os.environ.update(env)
        upgrade(url)
        db = Database(url)
        keys = purchases * rounds + WARM_UP + 100
        plan = load_store(db, scenario, vault=bench_run._vault(env), keys_total=keys * 3, products=3, distributors=6)
        db.dispose()
        bench_run._analyze(url)
        from keyrelay.app import server_process_app

        return asyncio.run(_drive(server_process_app(), plan, purchases=purchases, rounds=rounds))


async def _drive(app: object, plan: Plan, *, purchases: int, rounds: int) -> list[float]:
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

            async def buy(n: int) -> None:
                buyer = plan.buyers[n % len(plan.buyers)]
                body = json.dumps({"product_id": plan.products[n % len(plan.products)], "quantity": 1}).encode()
                reply = await http.post(PATH, content=body, headers=signed_headers(buyer, body))
                if reply.status_code != 201:
                    raise RuntimeError(f"purchase failed: {reply.status_code} {reply.text}")

            for n in range(WARM_UP):
                await buy(n)
            figures = []
            for _ in range(rounds):
                started = time.process_time()
                for n in range(purchases):
                    await buy(n)
                figures.append(1000 * (time.process_time() - started) / purchases)
            return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--purchases", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--database", default="postgresql://postgres@127.0.0.1:5432/test", help="PostgreSQL server for the throw-away database"
    )
    args = parser.parse_args()
    for backend in ("postgresql", "sqlite") if args.backend == "both" else (args.backend,):
        figures = measure(backend, purchases=args.purchases, rounds=args.rounds, admin_url=args.database)
        rounds = " ".join(f"{f:.2f}" for f in figures)
        print(f"{backend:10s} CPU ms per purchase: min {min(figures):.2f}, median {statistics.median(figures):.2f}  (rounds: {rounds})")


if __name__ == "__main__":
    main()
