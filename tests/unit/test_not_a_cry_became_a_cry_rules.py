"""The cloud's side of an ignored episode that became a cry on the device
(edge/ignored_episode.py): the ignored start is a notice, its ``became_a_cry`` end is kept, and
the new start at the same instant raises the cry alarm (the notice set no cooldown)."""

from __future__ import annotations

from datetime import timedelta

from cloud.alerting import DeviceRules, evaluate_batch
from cloud.rules import AlertKind, NurserySettings
from edge.ignored_episode import BECAME_A_CRY
from tests.unit.test_not_a_cry_rules import DEVICE, IGNORED, NOW, event, row


def test_the_ignored_start_is_a_notice_and_the_start_that_follows_its_end_alarms() -> None:
    became = NOW + timedelta(seconds=7)  # well inside the alarm cooldown
    ignored = row(event(9, ignored=IGNORED, confidence=0.41))
    ended = row(
        event(
            10, kind="cry_ended", at=became, episode_id=9, confidence=0.45, duration_s=7.0,
            end_reason=BECAME_A_CRY,
        ),
        became,
    )  # fmt: skip
    promoted = row(event(11, at=became, confidence=0.78), became)
    assert ended.end_reason == BECAME_A_CRY
    assert (ended.episode_id, promoted.episode_id, promoted.ignored) == (9, 11, None)

    # In one batch (a replay after a reconnect) as one by one, the same alerts.
    for batches in ([[ignored, ended, promoted]], [[ignored], [ended], [promoted]]):
        rules = {DEVICE: DeviceRules(NurserySettings())}
        # Episode 3, which the device says it sounded like, is marked now (not a stale list).
        alerts = [
            alert
            for batch in batches
            for alert in evaluate_batch(rules, [], batch, [], marked={DEVICE: {3}})
        ]
        notice, alarm = alerts
        assert notice.kind == AlertKind.CRY_IGNORED
        assert notice.details["episode_id"] == 9
        assert alarm.kind == AlertKind.CRY_DETECTED
        assert alarm.escalate_after_s is not None
        assert alarm.details["episode_id"] == 11
        assert alarm.details["confidence"] == 0.78
        assert rules[DEVICE].last_alarm["cry_started"] == became
