"""From the parents' settings (sensitivity, minimum duration, cooldown) to detector hysteresis.

Sensitivity 0.5 is the model's calibrated operating point (the threshold stored in its
manifest). Moving away from it shifts the onset threshold in *logit* space, where a step means
the same change in evidence anywhere on the scale: ±0.5 sensitivity is ±``LOGIT_SPAN`` logits.
The offset threshold keeps its ratio to the onset threshold, so hysteresis behaves the same at
every setting.
"""

from __future__ import annotations

import math
from dataclasses import replace

from models.contract import DeviceSettings
from models.cry import HysteresisParams

LOGIT_SPAN = 3.0
_EPSILON = 1e-6


def _logit(p: float) -> float:
    p = min(max(p, _EPSILON), 1.0 - _EPSILON)
    return math.log(p / (1.0 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def hysteresis_for(calibrated: HysteresisParams, settings: DeviceSettings) -> HysteresisParams:
    """The calibrated hysteresis adjusted to the nursery's settings."""
    shift = (0.5 - settings.cry_sensitivity) * 2.0 * LOGIT_SPAN
    on_threshold = _sigmoid(_logit(calibrated.on_threshold) + shift)
    ratio = calibrated.off_threshold / calibrated.on_threshold if calibrated.on_threshold else 1.0
    return replace(
        calibrated,
        on_threshold=on_threshold,
        off_threshold=on_threshold * ratio,
        min_duration_s=settings.cry_min_duration_s,
        cooldown_s=settings.cry_cooldown_s,
    )
