"""Who gets which push (cloud/push/targets.py) and whom the dispatcher names
(cloud/delivery/dispatch.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from cloud.delivery.dispatch import fixed_audience
from cloud.push.targets import acknowledged_targets, as_sent, claims_for, is_pushed, purpose_of
from cloud.storage.push_records import PushDelivery, PushSubscription
from cloud.storage.records import StoredAlert

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def alert(**changes: object) -> StoredAlert:
    values: dict[str, object] = {
        "id": 42, "device_id": "nursery-1", "kind": "CRY_DETECTED", "time": NOW,
        "created_at": NOW, "message": "Crying", "sick_detected": False, "details": {},
        "needs_ack": True,
    }  # fmt: skip
    return StoredAlert(**{**values, **changes})  # type: ignore[arg-type]


def subscription(sub_id: int, user_id: int, channel: str = "webpush") -> PushSubscription:
    return PushSubscription(sub_id, user_id, channel, f"https://fcm.googleapis.com/{sub_id}",
                            "k", "a", None, None, NOW, NOW, None, None, 0)  # fmt: skip


def row(sub_id: int | None, status: str, accepted: bool, purpose: str = "alert") -> PushDelivery:
    return PushDelivery(sub_id or 0, 42, 0, purpose, sub_id, 1, "webpush", status, 1, None,  # type: ignore[arg-type]
                        NOW, NOW, NOW if accepted else None, None, None, None)  # fmt: skip


def test_raised_and_escalated_alerts_go_to_their_users_subscriptions_on_known_channels() -> None:
    subs = [subscription(1, 10), subscription(2, 10), subscription(3, 11),
            subscription(4, 12), subscription(5, 10, "fcm")]  # fmt: skip
    claims = claims_for(alert(), subs, {10, 11}, {"webpush"})
    assert [(c.subscription_id, c.user_id, c.purpose, c.escalation_level) for c in claims] == [
        (1, 10, "alert", 0), (2, 10, "alert", 0), (3, 11, "alert", 0),
    ]  # fmt: skip
    escalated = alert(announcement="escalated", escalation_level=2, targets=(10,))
    assert [c.escalation_level for c in claims_for(escalated, subs, {10}, {"webpush"})] == [2, 2]


def test_an_acknowledgement_goes_to_the_phones_whose_alarm_was_accepted() -> None:
    rows = [
        row(1, "accepted", True),
        row(2, "cancelled", False),  # was retrying: the phone never showed it
        row(3, "cancelled", True),  # in flight when acknowledged, accepted after
        row(4, "expired", False),
        row(None, "accepted", True),  # its subscription is gone
        row(1, "accepted", True),  # the same phone at another level
        row(5, "accepted", True, purpose="acknowledged"),
    ]
    assert acknowledged_targets(rows) == [1, 3]
    assert purpose_of(alert(announcement="acknowledged")) == "acknowledged"
    assert purpose_of(alert(announcement="escalated")) == "alert"


def test_a_retry_carries_the_announcement_of_its_row() -> None:
    stored = alert(escalation_level=2)
    assert as_sent(stored, row(1, "sending", False)).announcement == "raised"
    assert as_sent(stored, row(1, "sending", False)).escalation_level == 0
    escalated = PushDelivery(1, 42, 1, "alert", 1, 1, "webpush", "sending", 2, None, NOW, NOW,
                             None, None, None, None)  # fmt: skip
    sent = as_sent(stored, escalated)
    assert (sent.announcement, sent.escalation_level) == ("escalated", 1)
    assert as_sent(stored, row(1, "sending", False, "acknowledged")).announcement == "acknowledged"


def test_the_dispatcher_looks_up_recipients_except_for_an_escalation() -> None:
    assert fixed_audience(alert()) is None
    assert fixed_audience(alert(announcement="acknowledged")) is None
    assert fixed_audience(alert(announcement="escalated", targets=(10, 11))) == [10, 11]


def test_a_cry_the_monitor_ignored_is_never_pushed_everything_else_is() -> None:
    # The family said "not a cry" to a sound like it: listed and on open screens, waking nobody.
    ignored = alert(kind="CRY_IGNORED", needs_ack=False, message="Not alerted")
    assert not is_pushed(ignored)
    kinds = ["CRY_DETECTED", "LOUD_SOUND", "DEVICE_OFFLINE", "CLIMATE_NORMAL", "TEST_ALERT"]
    assert all(is_pushed(alert(kind=kind)) for kind in kinds)
    assert is_pushed(alert(device_id=None, sick_detected=True))
