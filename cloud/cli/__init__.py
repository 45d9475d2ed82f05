"""``nursery-cloud``: run and operate the server side (migrations, collector, API)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cloud import settings_help
from cloud.claims import DEFAULT_CLAIM_TTL, generate_claim_code, hash_claim_code
from cloud.cli import broker as broker_cli
from cloud.cli import operator as operator_cli
from cloud.cli import push_keys as push_keys_cli
from cloud.config import ApiSettings, CollectorSettings, ConfigError, MqttSettings
from cloud.demo.processes import DemoError
from cloud.logs import configure_logging
from cloud.storage import StorageError, check_database, open_storage
from models.contract import ContractError, validate_device_id

logger = logging.getLogger(__name__)


EPILOG = """
examples:
  DATABASE_URL=postgresql://nursery@127.0.0.1/nursery nursery-cloud migrate
  DATABASE_URL=... JWT_SECRET=... nursery-cloud api --port 8000
  DATABASE_URL=... MQTT_USERNAME=svc.collector MQTT_PASSWORD=... nursery-cloud collector
  DATABASE_URL=... nursery-cloud device register nursery-0001 --owner-email parent@example.com
  DATABASE_URL=... nursery-cloud device register nursery-0002 --claim-code
  DATABASE_URL=... nursery-cloud user add ana@example.org --role installer
  NURSERY_DEVICE_MQTT_HOST=mqtt.example.org MOSQUITTO_PASSWORD_FILE=... ... nursery-cloud device add
  ... nursery-cloud device revoke nursery-4k7p2x9m1q
  nursery-cloud certs --out mosquitto/certs --broker-name mqtt.example.org
  nursery-cloud push-keys --env-file .env
"""


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        raise ConfigError("DATABASE_URL is required but not set")
    return url


async def _migrate() -> int:
    storage = await open_storage(_database_url())
    try:
        applied = await storage.migrate()
    finally:
        await storage.close()
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'schema is up to date'}")
    return 0


async def _register_device(device_id: str, owner_email: str | None, claim_code: bool) -> int:
    storage = await open_storage(_database_url())
    try:
        await storage.migrate()
        owner_id = None
        if owner_email is not None:
            credentials = await storage.get_credentials(owner_email)
            if credentials is None:
                print(f"error: no account with e-mail {owner_email!r}", file=sys.stderr)
                return 2
            owner_id = credentials.user.id
        await storage.register_device(device_id, owner_id)
        code = None
        if claim_code and owner_id is None:
            code = generate_claim_code()
            expires = datetime.now(UTC) + DEFAULT_CLAIM_TTL
            await storage.set_claim_code(device_id, hash_claim_code(code), expires)
    finally:
        await storage.close()
    print(f"device {device_id} registered" + (f" to {owner_email}" if owner_email else ""))
    if code is not None:
        # Shown once; only its hash is stored.
        print(f"claim code: {code}  (single use, valid until {expires:%Y-%m-%d %H:%M} UTC)")
    return 0


def _warn_if_anonymous(mqtt: MqttSettings, who: str, username_key: str) -> None:
    """Say so when the broker is reached without an account: with no MQTT_* set at all the
    collector would otherwise quietly try localhost anonymously and be refused, or - on a broker
    that allows it - read everything without being anyone."""
    if mqtt.username is None:
        logger.warning(
            "%s connects to the MQTT broker at %s:%d anonymously: %s is not set "
            "(see --help for the settings)",
            who,
            mqtt.host,
            mqtt.port,
            username_key,
        )


async def _run_collector(settings: CollectorSettings) -> int:
    from cloud.collector.run import run_collector

    _warn_if_anonymous(settings.mqtt, "the collector", "MQTT_USERNAME")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    storage = await open_storage(settings.database_url)
    try:
        await storage.migrate()
        await run_collector(settings, storage, stop)
    finally:
        await storage.close()
    return 0


# How long the API keeps an idle HTTP connection open. Longer than the idle expiry of what
# stands in front of it (httpx 5 s; the reverse proxy of docs/operations.md 60 s): a server
# that closes an idle connection first races a client reusing it at that moment, which then
# gets "Server disconnected without sending a response" and no answer (uvicorn's default of
# 5 s did that to an end-to-end test). An idle connection costs a socket and a few kilobytes.
API_KEEP_ALIVE_S = 75


def _run_api(host: str, port: int, with_collector: bool = False) -> int:
    import uvicorn

    from cloud.api import create_app

    settings = ApiSettings.from_env(os.environ)
    collector = CollectorSettings.from_env(os.environ) if with_collector else None
    if (
        collector is not None
        and settings.mqtt is not None
        and collector.mqtt.username == settings.mqtt.username
    ):
        # The broker names a connection after its account: the API's publisher and the
        # collector would take the one connection from each other, over and over.
        raise ConfigError(
            "NURSERY_COLLECTOR_MQTT_USERNAME (with NURSERY_COLLECTOR_MQTT_PASSWORD) must name a "
            f"broker account other than MQTT_USERNAME ({settings.mqtt.username}) for `serve`: "
            "the broker allows one connection per account (e.g. svc.server and "
            "svc.server.collector, docs/operations.md)"
        )
    # The API opens storage in uvicorn's start-up, which would bury a wrong DATABASE_URL in a
    # traceback: check it here, where it becomes one line.
    asyncio.run(check_database(settings.database_url))
    # After the database check: a wrong DATABASE_URL stays the one line the operator sees.
    if settings.mqtt is not None:
        _warn_if_anonymous(settings.mqtt, "the API", "MQTT_USERNAME")
    if collector is not None:
        _warn_if_anonymous(
            collector.mqtt, "the collector", "NURSERY_COLLECTOR_MQTT_USERNAME or MQTT_USERNAME"
        )
    # access_log off: it would print query strings, and the WebSocket token travels in one;
    # RequestLogMiddleware logs every request without them. log_config=None: uvicorn's own
    # records (it logs the WebSocket handshake with its query string too) go through the root
    # handler of configure_logging, which redacts tokens and keeps the chosen format, instead of
    # handlers of uvicorn's that would print them as they are.
    uvicorn.run(
        create_app(settings, collector),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        log_config=None,
        timeout_keep_alive=API_KEEP_ALIVE_S,
    )
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from cloud.demo import DemoOptions, run_demo

    options = DemoOptions(
        state_dir=args.state_dir,
        database_url=args.database_url,
        api_port=args.api_port,
        mqtt_port=args.mqtt_port,
    )
    return run_demo(options, say=lambda line: print(line, flush=True))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nursery-cloud",
        description="Nursery server side: database migrations, the MQTT collector and the API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log to stderr (default: %(default)s)",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="text for people, json (one object per line) for log collectors "
        "(default: %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("migrate", help="apply pending database migrations (safe to repeat)")
    commands.add_parser(
        "collector",
        help="run the MQTT collector until SIGTERM/SIGINT",
        epilog=settings_help.settings_epilog(
            settings_help.DATABASE, settings_help.MQTT, settings_help.COLLECTOR
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    api = commands.add_parser(
        "api",
        help="serve the REST/WebSocket API (migrates first)",
        epilog=settings_help.settings_epilog(
            settings_help.DATABASE,
            settings_help.API,
            settings_help.MQTT,
            note=settings_help.API_MQTT_NOTE,
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    api.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    api.add_argument("--port", type=int, default=8000, help="port to bind (default: %(default)s)")
    serve = commands.add_parser(
        "serve",
        help="the API and the collector in one process (single-home installs, SQLite)",
        description="Serve the API and run the MQTT collector in the same process on the same "
        "storage. Takes the settings of both (DATABASE_URL, JWT_SECRET, MQTT_*). With SQLite "
        "this is the way to get live alerts: its alert hub is in-process.",
        epilog=settings_help.settings_epilog(
            settings_help.DATABASE,
            settings_help.API,
            settings_help.MQTT,
            settings_help.COLLECTOR,
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default: %(default)s)")
    demo = commands.add_parser(
        "demo",
        help="run a broker, the API + collector and two simulated devices until Ctrl-C",
        description="Start the local demo: a Mosquitto it configures itself (install it with "
        "`apt-get install mosquitto`), the API and the collector on SQLite, and two simulated "
        "devices replaying a crying baby and a talking room through the real cry detector. "
        "Prints the API docs URL and a demo login, then progress until Ctrl-C. State is kept "
        "in --state-dir, so a second start resumes.",
    )
    demo.add_argument(
        "--state-dir",
        type=Path,
        default=Path("var/demo"),
        help="where logs, secrets and broker data are kept (default: %(default)s)",
    )
    demo.add_argument(
        "--database-url",
        help="use this PostgreSQL database (created if missing) instead of SQLite in --state-dir",
    )
    demo.add_argument("--api-port", type=int, default=8000, help="API port (default: %(default)s)")
    demo.add_argument(
        "--mqtt-port",
        type=int,
        default=18830,
        help="port of the demo's own broker (default: %(default)s)",
    )
    device = commands.add_parser("device", help="manage devices")
    device_commands = device.add_subparsers(dest="device_command", required=True, metavar="ACTION")
    register = device_commands.add_parser("register", help="register a device id (and its owner)")
    register.add_argument("device_id", help="the device id, as it appears in its MQTT topics")
    owner = register.add_mutually_exclusive_group()
    owner.add_argument("--owner-email", help="e-mail of the account that owns the device")
    owner.add_argument(
        "--claim-code",
        action="store_true",
        help="print a single-use code the parents enter in the app to claim the device",
    )
    operator_cli.register_device_commands(device_commands)
    operator_cli.register_user_commands(commands)
    broker_cli.register_broker_commands(commands)
    operator_cli.register_certs_command(commands)
    push_keys_cli.register_push_keys_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        if args.command == "migrate":
            return asyncio.run(_migrate())
        if args.command == "collector":
            return asyncio.run(_run_collector(CollectorSettings.from_env(os.environ)))
        if args.command == "api":
            return _run_api(args.host, args.port)
        if args.command == "serve":
            return _run_api(args.host, args.port, with_collector=True)
        if args.command == "demo":
            return _run_demo(args)
        if args.command == "device" and args.device_command == "register":
            return asyncio.run(
                _register_device(
                    validate_device_id(args.device_id), args.owner_email, args.claim_code
                )
            )
        if args.command == "device":
            return asyncio.run(operator_cli.run_device_command(args))
        if args.command == "user":
            return asyncio.run(operator_cli.run_user_command(args))
        if args.command == "broker":
            return broker_cli.run_broker_command(args, operator_cli.read_new_password)
        if args.command == "push-keys":
            return push_keys_cli.run_push_keys(args)
        if args.command == "certs":
            return operator_cli.make_certificates(args.out, args.broker_name, args.device)
    except (
        ConfigError,
        ContractError,
        DemoError,
        operator_cli.OperatorError,
        broker_cli.BrokerCommandError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
