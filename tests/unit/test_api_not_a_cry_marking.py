"""Which alert a caregiver can mark "not a cry", and the reason shown (409) when one cannot be
(cloud/api/routes/not_a_cry.py): only a monitor's cry alert that names its episode."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from cloud.api.routes.not_a_cry import NotMarkableError, marked_episode
from cloud.storage.records import StoredAlert

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def alert(**changes: object) -> StoredAlert:
    values: dict[str, object] = {
        "id": 42, "device_id": "nursery-1", "kind": "CRY_DETECTED", "time": NOW,
        "created_at": NOW, "message": "Crying", "sick_detected": False,
        "details": {"confidence": 0.93, "episode_id": 17}, "needs_ack": True,
    }  # fmt: skip
    return StoredAlert(**{**values, **changes})  # type: ignore[arg-type]


def test_a_monitors_cry_alert_marks_its_episode() -> None:
    assert marked_episode(alert()) == ("nursery-1", 17)
    assert marked_episode(alert(details={"episode_id": 0})) == ("nursery-1", 0)
    assert marked_episode(alert(details={"episode_id": 2**63 - 1})) == ("nursery-1", 2**63 - 1)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"device_id": None, "user_id": 3, "sick_detected": True, "details": {}},
            "this one is an app upload's",
        ),
        ({"kind": "LOUD_SOUND"}, "this one is LOUD_SOUND"),
        ({"kind": "CLIMATE_OUT_OF_RANGE", "details": {}}, "this one is CLIMATE_OUT_OF_RANGE"),
        ({"details": {"confidence": 0.9}}, "raised before episodes could be marked"),
        ({"details": {"episode_id": True}}, "raised before episodes could be marked"),
        ({"details": {"episode_id": "17"}}, "raised before episodes could be marked"),
        ({"details": {"episode_id": -1}}, "raised before episodes could be marked"),
        ({"details": {"episode_id": 2**63}}, "raised before episodes could be marked"),
        (
            {
                "kind": "CRY_IGNORED",
                "needs_ack": False,
                "details": {"episode_id": 20, "ignored": {"like_episode_id": 17}},
            },
            "Already ignored: the monitor did not alert on this sound (it sounded like episode "
            "17, marked earlier)",
        ),
        ({"kind": "CRY_IGNORED", "details": {}}, "Already ignored"),
    ],
)
def test_any_other_alert_cannot_be_marked_and_says_why(
    changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(NotMarkableError, match=re.escape(reason)):
        marked_episode(alert(**changes))
