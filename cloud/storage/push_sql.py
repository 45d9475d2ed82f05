"""SQL text the PostgreSQL and SQLite push modules share (both dialects accept it as is)."""

from __future__ import annotations

SUBSCRIPTION_COLUMNS = (
    "id, user_id, channel, endpoint, p256dh, auth, label, user_agent, created_at, updated_at,"
    " last_success_at, last_failure_at, failures"
)
DELIVERY_COLUMNS = (
    "id, alert_id, escalation_level, purpose, subscription_id, user_id, channel, status,"
    " attempts, next_attempt_at, created_at, sent_at, accepted_at, acknowledged_at,"
    " last_status, error"
)
# An alert ``a`` that rings like an alarm (cloud/push/payload.py ``_is_alarm``) and has no push
# row at its level yet: the pipeline never took it (no API process listened when it committed).
# 'TEST_ALERT' is AlertKind.TEST_ALERT (cloud/rules.py; tests/unit/test_push_sql.py checks it).
UNPUSHED_ALARM = (
    "(a.needs_ack OR a.sick_detected OR a.kind = 'TEST_ALERT')"
    " AND NOT EXISTS (SELECT 1 FROM push_deliveries d WHERE d.alert_id = a.id"
    "   AND d.escalation_level = a.escalation_level AND d.purpose = 'alert')"
)
