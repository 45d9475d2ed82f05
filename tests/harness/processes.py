"""Running the project's own console scripts as real processes in tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.harness.network import wait_for_port

STOP_TIMEOUT_S = 15.0


def console_script(name: str) -> str:
    """The path of an installed console script of this package (next to the interpreter)."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        raise FileNotFoundError(
            f"{name} is not installed; run: pip install -e '.[edge,pi,cloud,dev]'"
        )
    return str(path)


class ManagedProcess:
    """A child process whose output goes to a log file that is shown when a test fails."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._log = log_path.open("ab")
        full_env = {**os.environ, **env}
        self.process = subprocess.Popen(
            self.argv, env=full_env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_for_port(self, port: int, timeout_s: float = 30.0) -> None:
        if not wait_for_port(port, timeout_s):
            raise RuntimeError(f"{self.argv[0]} did not open port {port}:\n{self.output()}")

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the process and wait for it; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def stop_cleanly(self, sig: int = signal.SIGTERM) -> bool:
        """Stop with ``sig``; True when the process exited by itself (0, or re-raising ``sig``
        after its graceful shutdown, as uvicorn does)."""
        return self.stop(sig) in (0, -sig)

    def wait(self, timeout_s: float) -> int:
        return self.process.wait(timeout=timeout_s)
