"""``nursery-edge check``: one module per thing an installer must get right on the device.

Every check builds its part the way the daemon does (``edge.assembly``) and exercises it for
real - reads the sensor, records from the microphone, scores a window, logs in to the broker -
so a PASS means the daemon will find the part working, and a FAIL says what to do.
"""

from edge.checks.result import CheckResult, Outcome
from edge.checks.suite import run_checks

__all__ = ["CheckResult", "Outcome", "run_checks"]
