"""The confidence intervals printed on the model card, against values worked out by hand."""

from __future__ import annotations

import pytest

from models.training.intervals import proportion_interval, rate_interval


def test_wilson_interval_of_the_shipped_night_recall() -> None:
    # 51 of 56: p = 0.9107, z = 1.96; centre (p + z^2/2n) / (1 + z^2/n) = 0.8843,
    # half-width z * sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n) = 0.0769.
    low, high = proportion_interval(51, 56)
    assert low == pytest.approx(0.8074, abs=5e-4)
    assert high == pytest.approx(0.9613, abs=5e-4)


def test_wilson_interval_stays_inside_zero_and_one() -> None:
    low, high = proportion_interval(10, 10)
    assert high == pytest.approx(1.0)
    assert low == pytest.approx(0.7225, abs=5e-4)  # 10 / (10 + 1.96^2)
    assert proportion_interval(0, 10)[0] == pytest.approx(0.0)


def test_poisson_interval_for_a_few_false_alerts() -> None:
    # Garwood: no event in one hour -> at most -ln(0.025) = 3.689 per hour.
    assert rate_interval(0, 1.0) == pytest.approx((0.0, 3.6889), abs=1e-4)
    # One event: chi2(0.025, 2)/2 = 0.0253, chi2(0.975, 4)/2 = 5.5716; per 1.849 hours.
    low, high = rate_interval(1, 1.849)
    assert low == pytest.approx(0.0253 / 1.849, abs=1e-4)
    assert high == pytest.approx(5.5716 / 1.849, abs=1e-4)


def test_empty_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one trial"):
        proportion_interval(0, 0)
    with pytest.raises(ValueError, match="positive exposure"):
        rate_interval(1, 0.0)


def test_the_model_card_prints_the_night_with_its_intervals() -> None:
    import json

    from models.cry import default_model_manifest_path
    from models.training.model_card import render_model_card

    manifest = json.loads(default_model_manifest_path().read_text(encoding="utf-8"))
    night = {
        **manifest["metrics"]["night"],
        "episodes": 56,
        "detected": 51,
        "episode_recall": 51 / 56,
        "false_alerts": 0,
        "false_alerts_per_hour": 0.0,
        "non_cry_hours": 1.0,
    }
    card = render_model_card({**manifest, "metrics": {**manifest["metrics"], "night": night}})
    assert "| episode recall | 0.911 (51 of 56) | 0.81-0.96 | >= 0.95 |" in card
    assert "| 0.000 (0 alerts) | 0.00-3.69 | <= 1 |" in card
