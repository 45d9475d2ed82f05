"""95 % confidence intervals for the figures the model card reports from small samples.

A night holds a few dozen cry episodes and a handful of false alerts, so a recall of 0.911 or
0.54 alerts per hour says little without its uncertainty; the card shows both.
"""

from __future__ import annotations

from scipy.stats import binomtest, chi2

CONFIDENCE = 0.95


def proportion_interval(successes: int, trials: int) -> tuple[float, float]:
    """Wilson score interval of ``successes`` out of ``trials`` (sound near 0 and 1)."""
    if trials <= 0:
        raise ValueError("an interval needs at least one trial")
    interval = binomtest(successes, trials).proportion_ci(CONFIDENCE, method="wilson")
    return float(interval.low), float(interval.high)


def rate_interval(events: int, exposure: float) -> tuple[float, float]:
    """Exact (Garwood) Poisson interval of ``events`` seen in ``exposure`` units, per unit."""
    if exposure <= 0.0:
        raise ValueError("an interval needs a positive exposure")
    alpha = 1.0 - CONFIDENCE
    low = 0.0 if events == 0 else float(chi2.ppf(alpha / 2, 2 * events)) / 2.0
    high = float(chi2.ppf(1.0 - alpha / 2, 2 * events + 2)) / 2.0
    return low / exposure, high / exposure
