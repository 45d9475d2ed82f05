"""``nursery-edge check --config FILE``: is this device ready to watch a nursery?

Checks, in order, the configuration, the climate sensor (a few real reads), the microphone (a
few seconds of recording), the cry model (load and one timed window), the broker and the system
clock. While the agent runs, the broker check reports the agent's own connection (from its
status file; a login with the device's account would take over the agent's session); otherwise
it logs in with the device's credentials. Every FAIL and WARN comes with a ``fix:`` line saying
what to do.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any, TextIO

from edge.checks import CheckResult, Outcome, run_checks
from edge.cli.arguments import add_config_argument, seconds_between

EPILOG = """
examples:
  nursery-edge check --config /etc/nursery-edge/config.toml
  nursery-edge check --config /etc/nursery-edge/config.toml --seconds 10

exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 when the
configuration is invalid.
"""
NAME_WIDTH = 12
RESULT_WIDTH = 8


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check the sensor, microphone, model, broker login and clock",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_argument(parser)
    parser.add_argument(
        "--seconds",
        type=seconds_between(0.5, 60.0),
        default=3.0,
        help="seconds of audio to record for the microphone check (default: %(default)s)",
    )
    parser.set_defaults(handler=run)


def print_result(result: CheckResult, out: TextIO) -> None:
    indent = " " * (NAME_WIDTH + RESULT_WIDTH)
    print(f"{result.name:<{NAME_WIDTH}}{result.outcome:<{RESULT_WIDTH}}{result.detail}", file=out)
    if result.fix:
        first, *rest = result.fix.splitlines()
        print(f"{indent}fix: {first}", file=out)
        for line in rest:
            print(f"{indent}     {line}", file=out)
    out.flush()


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    print(f"{'CHECK':<{NAME_WIDTH}}{'RESULT':<{RESULT_WIDTH}}DETAIL", file=out)
    results = []
    for result in run_checks(args.config, args.seconds):
        print_result(result, out)
        results.append(result)
    counts = Counter(result.outcome for result in results)
    summary = ", ".join(f"{counts[o]} {o}" for o in Outcome if counts[o])
    config_valid = results[0].outcome != Outcome.FAIL
    if not config_valid:
        print(f"\n{summary}: fix the configuration first", file=out)
        return 2
    if counts[Outcome.FAIL]:
        print(f"\n{summary}: fix the FAIL lines above, then run the check again", file=out)
        return 1
    print(f"\n{summary}: the device is ready", file=out)
    return 0
