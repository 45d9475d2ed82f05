"""The broker's ACL rendered from mosquitto/acl: instance accounts get their role's grants."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cloud.broker.accounts import BrokerAccountsError, MosquittoAccounts
from cloud.broker.acl import render_acl, role_blocks, role_of
from cloud.cli.broker import service_account
from cloud.config import CollectorSettings, ConfigError

TEMPLATE = (Path(__file__).resolve().parents[2] / "mosquitto" / "acl").read_text()


def _grants(acl: str, user: str) -> list[str]:
    return role_blocks(acl).get(user, [])


def test_an_instance_account_gets_exactly_its_roles_grants() -> None:
    acl = render_acl(TEMPLATE, ["svc.collector", "svc.collector.2", "svc.api.b", "dev-1"])
    assert _grants(acl, "svc.collector.2") == _grants(TEMPLATE, "svc.collector")
    assert _grants(acl, "svc.api.b") == _grants(TEMPLATE, "svc.api")
    assert "user dev-1" not in acl
    # The template is kept: roles and device patterns as they were.
    for line in TEMPLATE.splitlines():
        if line.startswith(("user ", "topic ", "pattern ")):
            assert line in acl.splitlines()


def test_without_instances_the_template_is_the_acl() -> None:
    assert render_acl(TEMPLATE, ["svc.collector", "svc.api", "nursery-0001"]) == TEMPLATE


def test_names_that_are_not_instances() -> None:
    assert role_of("svc.collector.2") == "svc.collector"
    assert role_of("svc.collector") is None
    assert role_of("svc.collector.bad name") is None
    assert role_of("nursery-0001") is None


def test_an_unknown_role_stops_with_its_name(tmp_path: Path) -> None:
    template = tmp_path / "acl.template"
    template.write_text(TEMPLATE)
    accounts = MosquittoAccounts(
        tmp_path / "passwd", tmp_path / "pid", acl_template=template, acl_file=tmp_path / "acl"
    )
    accounts.set_password("svc.collector.2", "a-password-1", reload=False)
    assert "user svc.collector.2" in (tmp_path / "acl").read_text()
    with pytest.raises(BrokerAccountsError, match=r"svc\.nobody"):
        accounts.set_password("svc.nobody.1", "a-password-1", reload=False)
    assert "svc.nobody.1" not in (tmp_path / "passwd").read_text()
    accounts.remove("svc.collector.2", reload=False)
    assert "svc.collector.2" not in (tmp_path / "acl").read_text()


def test_the_cli_takes_only_service_accounts() -> None:
    assert service_account("svc.server") == "svc.server"
    assert service_account("svc.collector.eu-2") == "svc.collector.eu-2"
    for name in ("nursery-0001", "svc.nobody.1", "svc.collector.a b"):
        with pytest.raises(argparse.ArgumentTypeError):
            service_account(name)


def test_the_collector_may_have_an_account_of_its_own() -> None:
    env = {"DATABASE_URL": "sqlite:///x.db", "MQTT_USERNAME": "svc.server", "MQTT_PASSWORD": "p"}
    assert CollectorSettings.from_env(env).mqtt.username == "svc.server"
    own = {**env, "NURSERY_COLLECTOR_MQTT_USERNAME": "svc.server.collector"}
    with pytest.raises(ConfigError, match="NURSERY_COLLECTOR_MQTT_PASSWORD"):
        CollectorSettings.from_env(own)
    mqtt = CollectorSettings.from_env({**own, "NURSERY_COLLECTOR_MQTT_PASSWORD": "q"}).mqtt
    assert (mqtt.username, mqtt.password) == ("svc.server.collector", "q")
