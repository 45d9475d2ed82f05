"""Registration flood benchmark (issue 27, finding 9): how long a parent's login takes while
``--registrations`` registrations arrive at once, each from its own address (so the
per-address registration limit does not stop them: this measures the hashing lanes).

    .venv/bin/python -m tests.benchmarks.bench_auth_flood [--registrations 300] [--rounds 3]

The API runs in this process on a SQLite file (``create_app`` with its lifespan, driven by
httpx's ASGITransport). Per round: a login with no load (baseline), then the flood is started,
given 0.5 s to reach password hashing, and one login is timed; the flood's answers are counted
(201 created, 503 refused at once because the registration queue was full).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import httpx

from cloud.api import create_app
from cloud.config import ApiSettings

SECRET = "bench-auth-flood-secret-0123456789-abcdefghijklmn"
PASSWORD = "bench password 123"


def client(app: object, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://bench.test")


async def timed_login(app: object, email: str) -> float:
    async with client(app, "198.51.100.1") as parent:
        started = time.perf_counter()
        answer = await parent.post("/auth/login", json={"email": email, "password": PASSWORD})
        elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    return elapsed


async def register(app: object, number: int) -> int:
    async with client(app, f"10.{number // 65536}.{number // 256 % 256}.{number % 256}") as c:
        email = f"flood-{uuid.uuid4().hex[:10]}@example.com"
        answer = await c.post("/auth/register", json={"email": email, "password": PASSWORD})
    return answer.status_code


async def run(registrations: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as state:
        settings = ApiSettings(
            database_url=f"sqlite:///{Path(state) / 'bench.db'}",
            jwt_secret=SECRET,
            upload_dir=str(Path(state) / "uploads"),
        )
        app = create_app(settings)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(app.router.lifespan_context(app))
            email = f"parent-{uuid.uuid4().hex[:8]}@example.com"
            async with client(app, "198.51.100.1") as parent:
                created = await parent.post(
                    "/auth/register", json={"email": email, "password": PASSWORD}
                )
                assert created.status_code == 201, created.text
            print(f"## Login during a flood of {registrations} registrations ({rounds} rounds)")
            print(
                f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
                f"{platform.python_version()}\n"
            )
            print("| round | login, no load (s) | login during flood (s) | flood answers |")
            print("|---|---|---|---|")
            during_all = []
            for number in range(rounds):
                idle = await timed_login(app, email)
                flood = [
                    asyncio.create_task(register(app, number * registrations + n))
                    for n in range(registrations)
                ]
                await asyncio.sleep(0.5)
                during = await timed_login(app, email)
                during_all.append(during)
                answers = Counter(await asyncio.gather(*flood))
                summary = ", ".join(f"{code}: {count}" for code, count in sorted(answers.items()))
                print(f"| {number + 1} | {idle:.2f} | {during:.2f} | {summary} |")
            print(f"\nmedian login during the flood: {statistics.median(during_all):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.registrations, args.rounds))


if __name__ == "__main__":
    main()
