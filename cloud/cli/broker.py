"""``nursery-cloud broker``: the services' broker accounts and the ACL blocks they need.

The broker names every connection after its account (``use_username_as_clientid``), so each
service connection has an account of its own: ``svc.collector``, ``svc.api``, ``svc.server``,
and for every further instance ``svc.<role>.<instance>`` (a second collector, another API
process, the collector inside ``serve``). With ``MOSQUITTO_ACL_TEMPLATE`` and
``MOSQUITTO_ACL_FILE`` set, every change rewrites the broker's ACL so an instance account has
its role's grants (``cloud.broker.acl``).
"""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cloud.broker.accounts import BrokerAccountsError, MosquittoAccounts
from cloud.broker.acl import role_of
from cloud.config import ConfigError

SERVICE_ROLES = ("svc.collector", "svc.api", "svc.server")
DEFAULT_PID_FILE = "/run/mosquitto/mosquitto.pid"


class BrokerCommandError(RuntimeError):
    """The command cannot be done; the message says what to change (exit status 2)."""


def service_account(name: str) -> str:
    """argparse type: a role account or an instance ``svc.<role>.<instance>`` of a known role."""
    if name in SERVICE_ROLES or role_of(name) in SERVICE_ROLES:
        return name
    raise argparse.ArgumentTypeError(
        f"{name!r} is not a service account: use {', '.join(SERVICE_ROLES)} or an instance "
        "svc.<role>.<instance> of one (instance: letters, digits, '-', '_', '.')"
    )


def accounts_from_env(env: Mapping[str, str]) -> MosquittoAccounts:
    password_file = env.get("MOSQUITTO_PASSWORD_FILE", "").strip()
    if not password_file:
        raise ConfigError("MOSQUITTO_PASSWORD_FILE is required but not set")
    pid_file = env.get("MOSQUITTO_PID_FILE", "").strip() or DEFAULT_PID_FILE
    template = env.get("MOSQUITTO_ACL_TEMPLATE", "").strip()
    acl_file = env.get("MOSQUITTO_ACL_FILE", "").strip()
    if bool(template) != bool(acl_file):
        missing = "MOSQUITTO_ACL_FILE" if template else "MOSQUITTO_ACL_TEMPLATE"
        raise ConfigError(f"{missing} is required with MOSQUITTO_ACL_FILE/_TEMPLATE but not set")
    return MosquittoAccounts(
        Path(password_file),
        Path(pid_file),
        acl_template=Path(template) if template else None,
        acl_file=Path(acl_file) if acl_file else None,
    )


def broker_passwd(
    accounts: MosquittoAccounts, username: str, password: str | None, reload: bool
) -> int:
    """Set ``username``'s password (``None``: generate and print one)."""
    generated = password is None
    if password is None:
        password = secrets.token_urlsafe(24)
    try:
        accounts.set_password(username, password, reload=reload)
    except BrokerAccountsError as exc:
        raise BrokerCommandError(str(exc)) from None
    print(f"broker account {username} set in {accounts.password_file}")
    if role_of(username) is not None and accounts.acl_file is None:
        print(
            f"note: {username} has no grants until the ACL has a `user {username}` block: set "
            "MOSQUITTO_ACL_TEMPLATE and MOSQUITTO_ACL_FILE (docs/operations.md, Scaling out)"
        )
    if generated:
        print(f"password: {password}   (shown once)")
    return 0


def broker_remove(accounts: MosquittoAccounts, username: str, reload: bool) -> int:
    try:
        found = accounts.remove(username, reload=reload)
    except BrokerAccountsError as exc:
        raise BrokerCommandError(str(exc)) from None
    if not found:
        raise BrokerCommandError(f"no broker account {username} in {accounts.password_file}")
    print(f"broker account {username} removed (its connection is dropped on the reload)")
    return 0


def register_broker_commands(commands: Any) -> None:
    broker = commands.add_parser("broker", help="manage broker accounts of the services")
    actions = broker.add_subparsers(dest="broker_command", required=True, metavar="ACTION")
    passwd = actions.add_parser(
        "passwd",
        help="set a service account's broker password (svc.collector, svc.api, svc.server, "
        "or an instance svc.<role>.<instance>)",
        description="Needs MOSQUITTO_PASSWORD_FILE (and MOSQUITTO_PID_FILE to reload). With "
        "MOSQUITTO_ACL_TEMPLATE and MOSQUITTO_ACL_FILE the broker's ACL is rewritten too, with "
        "a block per instance account.",
        epilog="example: MOSQUITTO_PASSWORD_FILE=/srv/mosquitto/passwd "
        "nursery-cloud broker passwd svc.collector --generate --no-reload",
    )
    passwd.add_argument("username", type=service_account)
    source = passwd.add_mutually_exclusive_group()
    source.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    source.add_argument("--generate", action="store_true", help="generate and print one")
    remove = actions.add_parser(
        "remove", help="delete a service account (e.g. a collector instance scaled away)"
    )
    remove.add_argument("username", type=service_account)
    for parser in (passwd, remove):
        parser.add_argument(
            "--no-reload",
            dest="reload",
            action="store_false",
            help="only write the files (the broker is not running yet)",
        )


def run_broker_command(args: argparse.Namespace, read_password: Callable[[bool, str], str]) -> int:
    accounts = accounts_from_env(os.environ)
    if args.broker_command == "remove":
        return broker_remove(accounts, args.username, args.reload)
    password = None
    if not args.generate:
        password = read_password(args.password_stdin, f"broker password for {args.username}")
    return broker_passwd(accounts, args.username, password, args.reload)
