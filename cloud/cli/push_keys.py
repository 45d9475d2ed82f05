"""``nursery-cloud push-keys``: a VAPID key pair for Web Push (docs/operations.md, "Push
notifications"), printed as .env lines or written into an env file."""

from __future__ import annotations

import argparse
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any

from cloud.cli.operator import OperatorError
from cloud.push.keys import VapidKeyPair, generate_vapid_keys

PRIVATE = "NURSERY_VAPID_PRIVATE_KEY"
PUBLIC = "NURSERY_VAPID_PUBLIC_KEY"

DESCRIPTION = f"""\
Generate a VAPID key pair (P-256) for Web Push and print it as two .env lines:
  {PRIVATE}=...  the secret the API signs push requests with; set it in
      the API's environment (.env) with NURSERY_VAPID_SUBJECT=mailto:you@example.org
  {PUBLIC}=...   informational: browsers get it from GET /push/config

Generate it once. Rotating the key invalidates every browser subscription: push services
refuse messages signed with another key, so every phone must enable notifications again.
"""


def register_push_keys_command(commands: Any) -> None:
    command = commands.add_parser(
        "push-keys",
        help="generate the VAPID key pair for Web Push (rotating it invalidates every "
        "browser subscription)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument(
        "--env-file",
        type=Path,
        help=f"also add both lines to this file (created with mode 0600); refused when it has "
        f"a {PRIVATE} already",
    )


def _lines(keys: VapidKeyPair) -> list[str]:
    return [f"{PRIVATE}={keys.private_key}", f"{PUBLIC}={keys.public_key}"]


def _assignment(line: str, name: str) -> str | None:
    """The value ``line`` assigns to ``name`` (``NAME=value``), or None."""
    match = re.fullmatch(rf"\s*(?:export\s+)?{name}\s*=(.*)", line)
    return None if match is None else match.group(1).strip().strip("'\"")


def _add_to_env_file(path: Path, keys: VapidKeyPair) -> None:
    """Fill an empty ``NURSERY_VAPID_PRIVATE_KEY=`` line (as .env.example has one) or append
    the lines; a key already there is never replaced."""
    try:
        # O_EXCL: created here with 0600, never a world-readable moment.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise OperatorError(f"cannot create {path}: {exc.strerror}") from None
    else:
        with os.fdopen(descriptor, "w", encoding="utf-8") as created:
            created.write("\n".join(_lines(keys)) + "\n")
        return
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OperatorError(f"cannot read {path}: {exc}") from None
    lines = text.splitlines()
    if any(_assignment(line, PRIVATE) for line in lines):
        raise OperatorError(
            f"{path} has a {PRIVATE} already; it was kept. Rotating the key invalidates every "
            "browser subscription (every phone must enable notifications again): remove the "
            "line first if that is what you want"
        )
    new = dict(zip((PRIVATE, PUBLIC), _lines(keys), strict=True))
    kept = []
    for line in lines:
        name = next((key for key in new if _assignment(line, key) is not None), None)
        # An empty placeholder (or a stale public key): the new value takes its place.
        kept.append(line if name is None else new.pop(name))
    kept += new.values()
    # Rewritten in place: the file keeps its owner and mode.
    try:
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    except OSError as exc:
        raise OperatorError(f"cannot write {path}: {exc.strerror}") from None
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(
            f"warning: {path} is readable by other users: chmod 600 {path}",
            file=sys.stderr,
        )


def run_push_keys(args: argparse.Namespace) -> int:
    keys = generate_vapid_keys()
    if args.env_file is not None:
        _add_to_env_file(args.env_file, keys)
    for line in _lines(keys):
        print(line)
    if args.env_file is not None:
        print(f"written to {args.env_file}", file=sys.stderr)
    return 0
