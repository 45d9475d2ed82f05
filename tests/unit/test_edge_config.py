"""The device config file: strict, every error names the key, the example documents it all."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from edge.config import AgentConfig, ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "firmware_config" / "edge.example.toml"
MINIMAL = {"device": {"id": "nursery-0001"}, "broker": {"host": "localhost"}}


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_the_example_config_is_valid_and_explains_every_key() -> None:
    config = load_config(EXAMPLE)
    assert config.device.id == "nursery-0001"
    text = EXAMPLE.read_text()
    for section, model in AgentConfig.model_fields.items():
        assert f"[{section}]" in text, f"example lacks [{section}]"
        assert isinstance(model.annotation, type)
        assert issubclass(model.annotation, BaseModel)
        for key in model.annotation.model_fields:
            assert re.search(rf"^#? ?{key} = ", text, re.M), f"example lacks {section}.{key}"


def test_defaults_fill_everything_but_the_device_id_and_broker_host() -> None:
    config = parse_config(MINIMAL)
    assert config.broker.port == 8883
    assert config.sensor.kind == "dht22"
    assert config.settings.telemetry_interval_s == 10.0


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({**MINIMAL, "sensor": {"pinn": "D17"}}, "sensor.pinn: unknown key"),
        ({**MINIMAL, "sensor": {"read_interval_s": 1}}, "sensor.read_interval_s:"),
        ({**MINIMAL, "broker": {"host": "h", "port": 70000}}, "broker.port:"),
        ({"broker": {"host": "h"}}, "device: required key is missing"),
        ({**MINIMAL, "device": {"id": "Nursery 1"}}, "device.id:"),
        ({**MINIMAL, "settings": {"cry_sensitivity": 2}}, "settings.cry_sensitivity:"),
        ({**MINIMAL, "settings": {"volume": 2}}, "settings.volume: unknown key"),
        ({**MINIMAL, "audio": {"source": "file"}}, 'audio: Value error, source = "file"'),
        ({**MINIMAL, "wifi": {}}, "wifi: unknown key"),
    ],
)
def test_invalid_values_are_rejected_naming_the_key(
    document: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, "edge.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("edge.toml: ")


def test_a_corrupt_file_is_reported_as_such(tmp_path: Path) -> None:
    path = write(tmp_path, '[device]\nid = "nursery-0001\n')
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml")


def test_a_password_in_a_world_readable_file_is_refused(tmp_path: Path) -> None:
    text = '[device]\nid = "nursery-0001"\n[broker]\nhost = "h"\npassword = "s3cret"\n'
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config(write(tmp_path, text, mode=0o644))
    config = load_config(write(tmp_path, text, mode=0o600))
    assert config.broker_password() == "s3cret"
    assert "s3cret" not in repr(config)


def test_the_password_file_is_read_when_asked_and_errors_name_the_key(tmp_path: Path) -> None:
    secret = tmp_path / "broker-password"
    secret.write_text("from-file\n")
    document = {**MINIMAL, "broker": {"host": "h", "password_file": str(secret)}}
    assert parse_config(document).broker_password() == "from-file"
    document["broker"] = {"host": "h", "password_file": str(tmp_path / "nope")}
    with pytest.raises(ConfigError, match=r"broker\.password_file"):
        parse_config(document).broker_password()


def test_toml_integers_are_fine_for_float_settings() -> None:
    document = tomllib.loads("[settings]\ntelemetry_interval_s = 30\n")
    config = parse_config({**MINIMAL, **document})
    assert config.settings.telemetry_interval_s == 30.0
