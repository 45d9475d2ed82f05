"""Ingest benchmark: sustained MQTT -> committed rows, against baselines measured in the same run.

    .venv/bin/python -m tests.benchmarks.bench_ingest [--messages 40000]
        [--backends postgres,timescaledb]

Every consumer drains the same backlog: readings from many devices are published (each device on
its own connection, QoS 1) while the consumer's persistent session is offline, so the broker
queues them; then the consumer connects and is timed until it has handled the backlog. Each
consumer gets its own copy of the backlog, published just before its turn.

- collector:  this project's collector (validate, batch, COPY + INSERT ON CONFLICT, rules)
- collector xN: N collector processes in one shared-subscription group (how the collector
              scales out, docs/operations.md), each draining its share of the same backlog
- naive:      INSERT + COMMIT per message, then PUBACK (drains a smaller backlog)
- mqtt-only:  a bare gmqtt subscriber that only counts (the MQTT ceiling)
- copy-only:  COPY of the same rows straight into the readings table (the database ceiling)

Then publish -> commit latency with live traffic at half the measured rate, for one collector
and for the N-process group (each at half its own rate).
Everything runs on each of ``--backends`` in turn (plain PostgreSQL, TimescaleDB with readings
and events as hypertables) and is printed side by side. Starts its own Mosquitto (project
configuration) and uses fresh databases, like the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from cloud.collector import Collector
from cloud.storage import open_storage
from tests.benchmarks.ingest_load import (
    BrokerLogin,
    CountingConsumer,
    NaiveConsumer,
    create_session,
    drain,
    end_session,
    publish_load,
)
from tests.benchmarks.ingest_scaleout import (
    CollectorGroup,
    TimedStorage,
    collector_settings,
    drain_collectors,
    scaleout_client_ids,
)
from tests.benchmarks.machine_cpu import MachineCpu, cores_counted
from tests.harness.mosquitto import MosquittoBroker, production_autosave
from tests.harness.postgres import fresh_database
from tests.harness.timescaledb import fresh_timescaledb_database


async def until(predicate: Callable[[], bool], timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark phase did not finish")
        await asyncio.sleep(0.01)


@dataclass
class Row:
    name: str
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def run_publisher(broker: MosquittoBroker, devices: dict[str, str], total: int,
                  rate: float | None, live_ts: bool) -> float:  # fmt: skip
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        achieved: float = pool.apply(
            publish_load, (broker.host, broker.port, devices, total, rate, live_ts)
        )
    return achieved


async def prepare_database(url: str, devices: list[str]) -> None:
    storage = await open_storage(url)
    try:
        await storage.migrate()
        for device_id in devices:
            await storage.register_device(device_id, None)
    finally:
        await storage.close()


async def drain_collector(url: str, login: BrokerLogin, total: int, tag: str) -> float:
    storage = await open_storage(url)
    collector = Collector(collector_settings(url, login, "bench-ours" + tag, "ours"), storage)
    started = time.monotonic()
    await collector.start()
    await until(lambda: collector.committed_rows >= total)
    elapsed = time.monotonic() - started
    await collector.stop()
    await storage.close()
    return elapsed


async def drain_naive(url: str, login: BrokerLogin, total: int, tag: str) -> float:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        consumer = NaiveConsumer(conn, total)
        return await drain(
            login, "bench-naive" + tag, consumer.handle, total, lambda: consumer.stored
        )


async def drain_counting(login: BrokerLogin, total: int, tag: str) -> float:
    consumer = CountingConsumer()
    return await drain(login, "bench-bare" + tag, consumer.handle, total, lambda: consumer.received)


def copy_ceiling(url: str, devices: list[str], total: int) -> float:
    fixed = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(fixed, fixed, "device", devices[i % len(devices)], i // len(devices), 20.0, 45.0)
            for i in range(total)]  # fmt: skip
    with psycopg.connect(url) as conn:
        started = time.monotonic()
        with conn.cursor().copy(
            "COPY readings (time, received_at, source, device_id, seq, temperature, humidity)"
            " FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.monotonic() - started


@dataclass
class LivePhase:
    latencies: list[float]  # publish -> commit, seconds, one per reading
    achieved_rate: float  # msg/s the publisher reached
    busy_cores: float | None  # the whole machine's CPU use while the publisher ran


def publish_live(broker: MosquittoBroker, devices: dict[str, str], total: int,
                 rate: float) -> tuple[float, float | None]:  # fmt: skip
    cpu = MachineCpu()
    achieved = run_publisher(broker, devices, total, rate, True)
    return achieved, cpu.busy_cores()


async def live_latency(url: str, login: BrokerLogin, broker: MosquittoBroker,
                       devices: dict[str, str], rate: float, seconds: float,
                       tag: str) -> LivePhase:  # fmt: skip
    storage = TimedStorage(await open_storage(url))
    settings = replace(collector_settings(url, login, "bench-live" + tag, "live"))
    collector = Collector(settings, storage)
    await collector.start()
    await asyncio.sleep(1.0)
    total = int(rate * seconds)
    achieved, busy = await asyncio.to_thread(publish_live, broker, devices, total, rate)
    await until(lambda: len(storage.latencies) >= total)
    await collector.stop()
    await storage.close()
    return LivePhase(storage.latencies, achieved, busy)


def live_latency_scaled(url: str, login: BrokerLogin, broker: MosquittoBroker,
                        devices: dict[str, str], processes: int, rate: float,
                        seconds: float) -> LivePhase:  # fmt: skip
    """As live_latency, with ``processes`` collector processes in one share group."""
    client_ids = scaleout_client_ids(processes, "bench-live-scale")
    collectors = CollectorGroup(url, login, "livescale", client_ids, timed=True)
    try:
        collectors.go()
        time.sleep(1.0)  # subscribed before the first message
        total = int(rate * seconds)
        achieved, busy = publish_live(broker, devices, total, rate)
        collectors.wait_committed(total, time.monotonic())
    finally:
        latencies = collectors.stop()
    return LivePhase(latencies, achieved, busy)


LOAD_SHORTFALL = 0.97  # achieved/target below this: the load generator itself could not keep up


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


@dataclass
class Environment:
    broker: MosquittoBroker
    login: BrokerLogin
    devices: dict[str, str]


# Where each backend's fresh databases come from (the tests' harness finds the servers).
BACKEND_DATABASES: dict[str, Callable[[], AbstractContextManager[str]]] = {
    "postgres": fresh_database,
    "timescaledb": fresh_timescaledb_database,
}
PHASES = ("ours", "scale", "naive", "copy", "live", "livescale")


def databases(stack: ExitStack, backend: str) -> dict[str, str]:
    """A fresh database per phase on the backend's server."""
    return {name: stack.enter_context(BACKEND_DATABASES[backend]()) for name in PHASES}


@dataclass
class BackendResult:
    backend: str
    rows: list[Row]
    live: list[tuple[str, float, LivePhase]]  # (name, target rate, phase)


def environment(
    stack: ExitStack, device_count: int, client_ids: list[str], autosave: list[str] | None
) -> Iterator[Environment]:
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    broker = MosquittoBroker(workdir, autosave)
    broker.start()
    stack.callback(broker.stop)
    password = secrets.token_urlsafe(16)
    login = BrokerLogin(broker.host, broker.port, "svc.collector", password)
    broker.add_users({login.username_for(client_id): password for client_id in client_ids})
    devices = {f"bench-{i:04d}": secrets.token_urlsafe(16) for i in range(device_count)}
    broker.add_users(devices)
    yield Environment(broker, login, devices)


def main() -> None:
    # The naive baseline's leftover handlers acknowledge on a closed connection at the end of
    # its phase; gmqtt warns once per message about that.
    logging.getLogger("gmqtt").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=40_000, help="backlog size (default 40000)")
    parser.add_argument(
        "--naive-messages", type=int, default=3_000, help="naive backlog (default 3000)"
    )
    parser.add_argument("--devices", type=int, default=50, help="simulated devices (default 50)")
    parser.add_argument(
        "--processes", type=int, default=2, help="collectors in the scale-out row (default 2)"
    )
    parser.add_argument("--latency-seconds", type=float, default=15.0, help="live phase length")
    parser.add_argument(
        "--autosave",
        help="broker autosave setting instead of mosquitto.conf's, e.g. 'autosave_interval 1' "
        "or 'autosave_on_changes true;autosave_interval 1000'",
    )
    parser.add_argument("--backends", default="postgres,timescaledb",
                        help="comma-separated, run one after the other and printed side by side "
                        "(default: plain PostgreSQL and TimescaleDB)")  # fmt: skip
    args = parser.parse_args()
    autosave = args.autosave.split(";") if args.autosave else None
    backends = args.backends.split(",")
    # One broker account per consumer session (the broker names a session after its account);
    # the single-process consumers' client ids carry the backend (run_backend).
    client_ids = [
        *(f"{base}-{backend}" for backend in backends
          for base in ("bench-ours", "bench-naive", "bench-bare", "bench-live")),
        *scaleout_client_ids(args.processes), *scaleout_client_ids(args.processes, "bench-live-scale"),
    ]  # fmt: skip
    print(f"broker autosave: {'; '.join(autosave or production_autosave())}")
    with ExitStack() as stack:
        env = next(environment(stack, args.devices, client_ids, autosave))
        results = []
        for backend in backends:
            print(f"== {backend}")
            results.append(run_backend(env, backend, databases(stack, backend), args))
    print_results(results, args)


def run_backend(
    env: Environment, backend: str, urls: dict[str, str], args: argparse.Namespace
) -> BackendResult:
    ids = list(env.devices)
    for url in urls.values():
        asyncio.run(prepare_database(url, ids))
    scale_ids = scaleout_client_ids(args.processes)
    # Client ids carry the backend: a later backend must not resume an earlier one's session.
    tag = f"-{backend}"
    drains: list[tuple[str, int, list[tuple[str, str]], Callable[[], float]]] = [
        ("collector (this project), 1 process", args.messages, [("bench-ours" + tag, "ours")],
         lambda: asyncio.run(drain_collector(urls["ours"], env.login, args.messages, tag))),
        (f"collector x{args.processes} processes, $share", args.messages,
         [(client_id, "scale") for client_id in scale_ids],
         lambda: drain_collectors(urls["scale"], env.login, "scale", args.processes, args.messages)),
        ("naive: INSERT+COMMIT per message", args.naive_messages, [("bench-naive" + tag, "naive")],
         lambda: asyncio.run(drain_naive(urls["naive"], env.login, args.naive_messages, tag))),
        ("ceiling: bare gmqtt, count only", args.messages, [("bench-bare" + tag, "bare")],
         lambda: asyncio.run(drain_counting(env.login, args.messages, tag))),
    ]  # fmt: skip
    rows = []
    for name, messages, sessions, run_drain in drains:
        # Each consumer gets the same backlog to itself: the broker holds one queued copy
        # at a time, so no row pays for (or is spared) copies queued for another.
        for client_id, group in sessions:
            asyncio.run(create_session(env.login, client_id, group))
        publish_rate = run_publisher(env.broker, env.devices, messages, None, False)
        print(f"{name}: backlog of {messages:,} readings from {args.devices} devices "
              f"published at {publish_rate:,.0f} msg/s")  # fmt: skip
        rows.append(Row(name, messages, run_drain()))
        for client_id, _group in sessions:  # drained: later phases must not queue for it
            asyncio.run(end_session(env.login, client_id))
    rows.append(Row("ceiling: COPY into readings", args.messages,
                    copy_ceiling(urls["copy"], ids, args.messages)))  # fmt: skip
    ours, scaled = rows[0].rate, rows[1].rate
    live = [("1 process", ours / 2, asyncio.run(live_latency(
        urls["live"], env.login, env.broker, env.devices, ours / 2, args.latency_seconds, tag
    )))]  # fmt: skip
    live.append((f"{args.processes} processes", scaled / 2, live_latency_scaled(
        urls["livescale"], env.login, env.broker, env.devices, args.processes,
        scaled / 2, args.latency_seconds,
    )))  # fmt: skip
    # Gone, so that the next backend's traffic is not queued for (or shared with) them.
    for client_id in ["bench-live" + tag, *scaleout_client_ids(args.processes, "bench-live-scale")]:
        asyncio.run(end_session(env.login, client_id))
    return BackendResult(backend, rows, live)


def print_results(results: list[BackendResult], args: argparse.Namespace) -> None:
    print()
    print("rows/s per consumer (x = 1 collector on this backend / this row)")
    print(f"{'consumer':40} {'messages':>9}" + "".join(f" {r.backend:>22}" for r in results))
    for index, row in enumerate(results[0].rows):
        cells = ""
        for result in results:
            mine = result.rows[index]
            cells += f" {mine.rate:>11,.0f} {result.rows[0].rate / mine.rate:>9.2f}x"
        print(f"{row.name:40} {row.messages:>9,}{cells}")
    print(f"\n{'':32}" + "".join(f" {r.backend:>22}" for r in results) + "  target")
    labels = [
        ("1 process x naive", ">= 10x"),
        (f"{args.processes} processes x naive", ">= 10x"),
        ("1 process % of lower ceiling", ">= 70%"),
        (f"{args.processes} processes % of lower ceiling", ">= 70%"),
    ]
    columns = [targets(result) for result in results]
    for index, (label, goal) in enumerate(labels):
        print(f"{label:32}" + "".join(f" {column[index]:>22}" for column in columns) + f"  {goal}")
    print("\npublish -> commit latency, live traffic at half the measured rate"
          " (target p99 <= 250 ms):")  # fmt: skip
    for result in results:
        for name, target, phase in result.live:
            print_latency(f"{result.backend}, {name}", target, phase)


def targets(result: BackendResult) -> list[str]:
    """x naive and % of the lower ceiling, for 1 process and for the scale-out group."""
    ours, scaled, naive = (row.rate for row in result.rows[:3])
    ceiling = min(result.rows[3].rate, result.rows[4].rate)
    return [
        f"{ours / naive:.1f}x",
        f"{scaled / naive:.1f}x",
        f"{100 * ours / ceiling:.0f}%",
        f"{100 * scaled / ceiling:.0f}%",
    ]


def print_latency(name: str, target: float, phase: LivePhase) -> None:
    latencies, achieved = phase.latencies, phase.achieved_rate
    busy = (
        ""
        if phase.busy_cores is None
        else f", machine {phase.busy_cores:.2f} of {cores_counted()} cores busy"
    )
    print(f"  {name:26} at {achieved:>7,.0f} msg/s (target {target:>7,.0f}), {len(latencies):>7,} "
          f"readings: p50 {1000 * percentile(latencies, 50):6.1f} ms, "
          f"p99 {1000 * percentile(latencies, 99):6.1f} ms, max {1000 * max(latencies):6.1f} ms{busy}")  # fmt: skip
    if achieved < LOAD_SHORTFALL * target:
        # The publisher shares the cores with what it measures; when it cannot reach the rate,
        # the machine, not the collector, set the tail.
        print(f"  {'':26} the publisher reached only {100 * achieved / target:.0f} % of the target "
              "rate: this row is measured past saturation")  # fmt: skip


if __name__ == "__main__":
    main()
