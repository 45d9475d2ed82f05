from cloud.push.payload import TEST_ALERT_KIND
from cloud.rules import AlertKind
from cloud.storage.push_sql import UNPUSHED_ALARM


def test_the_catch_up_names_the_test_alert_kind_as_the_rules_do() -> None:
    assert AlertKind.TEST_ALERT == TEST_ALERT_KIND
    assert f"a.kind = '{AlertKind.TEST_ALERT.value}'" in UNPUSHED_ALARM
