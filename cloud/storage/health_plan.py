"""The backend-independent part of the parents' views: the upload alert and bucket widths.

postgres/health.py and sqlite/health.py both use these, so the two backends word an upload's
alert and validate a bucket the same way.
"""

from __future__ import annotations

from datetime import timedelta

from cloud.alerting import CRY_STARTED
from cloud.rules import AlertKind
from cloud.storage.records import UploadRow

UPLOAD_ALERT_KIND = AlertKind.CRY_DETECTED.value
# The event kind that opens a device's cry episode: one episode counts as one cry.
CRY_EPISODE_KIND = CRY_STARTED


def upload_alert_message(sick_detected: bool) -> str:
    """Worded as the collector's cry alerts (cloud/rules.py cry_alert)."""
    return "Baby is crying" + (" and may be sick" if sick_detected else "")


def upload_alert_details(upload: UploadRow, record_id: int) -> dict[str, object]:
    return {
        "temperature": upload.temperature,
        "humidity": upload.humidity,
        "record_id": record_id,
        "confidence": upload.cry_confidence,
    }


def bucket_seconds(bucket: timedelta) -> int:
    """The bucket width in whole seconds; both backends bucket on whole epoch seconds."""
    if bucket <= timedelta(0) or bucket.microseconds != 0:
        raise ValueError(f"bucket must be a positive whole number of seconds, got {bucket}")
    return int(bucket.total_seconds())
