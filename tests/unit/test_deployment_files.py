"""The production deployment files hold together: docker-compose.yml, the Dockerfile,
.dockerignore and .env.example (docs/operations.md is their guide).

Everything here runs without a Docker engine: the files are parsed and cross-checked, the inline
scripts are compiled (and the init job is run for real against a temporary password file), and
`docker-compose config` validates the compose file whenever the binary exists. .ci/run installs
Debian's docker-compose; under CI its absence fails the test instead of skipping it. The image
itself is built only where an engine runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from cloud.broker.passwords import hash_password, verify_password
from cloud.cli import build_parser as cloud_parser
from cloud.collector.metrics import CollectorMetrics
from cloud.config import CollectorSettings
from cloud.demo.broker import write_broker_config
from edge.cli import build_parser as edge_parser
from tests.harness.external_material import under_ci

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
MOSQUITTO_CONF = REPO / "mosquitto" / "mosquitto.conf"
OPERATIONS_DOC = REPO / "docs" / "operations.md"
PI_GUIDE = REPO / "firmware_config" / "README.md"

LONG_RUNNING = {"timescaledb", "mosquitto", "collector", "api", "demo-device-1", "demo-device-2"}
ONE_SHOT = {"init", "certs", "demo-provision"}
DEMO = {"demo-provision", "demo-device-1", "demo-device-2"}
NURSERY_IMAGE = "nursery-cloud:local"
BROKER_UID = "1883:1883"
# ${NAME}, ${NAME:-default}, ${NAME:?message}; $${...} is a literal for a shell, not a variable.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
# The secrets (not MOSQUITTO_PASSWORD_FILE, a path).
SECRET_NAME = re.compile(r"(PASSWORD|SECRET)$")
PLACEHOLDER = "change-me"


# --- reading the files -----------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _strings(node: object) -> list[str]:
    """Every string of the parsed compose file (values and keys; comments are not data)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in _strings(key) + _strings(value)]
    if isinstance(node, list):
        return [text for item in node for text in _strings(item)]
    return []


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    # The mapping form: a list of NAME=value strings would hide values from these checks.
    assert isinstance(environment, dict), "environment must be a mapping"
    return {name: str(value) for name, value in environment.items()}


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, separator, value = line.partition("=")
        assert separator, f".env.example:{number}: not NAME=value: {line!r}"
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f".env.example:{number}: name {name!r}"
        # Compose v1 keeps "value # comment" as the value.
        assert "#" not in value, f".env.example:{number}: a comment needs a line of its own"
        assert name not in values, f".env.example:{number}: {name} twice"
        values[name] = value
    return values


def _published_ports(service: dict[str, Any]) -> set[int]:
    published: set[int] = set()
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            published.add(int(entry["published"]))
            continue
        # "[HOST_IP:]HOST_PORT:CONTAINER_PORT"; the address may be a ${VAR:-default}.
        parts = re.sub(r"\$\{[^}]*\}", "address", str(entry)).split(":")
        assert len(parts) >= 2, f"{entry!r} publishes the port on a random host port"
        published.add(int(parts[-2]))
    return published


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        if pending.strip():
            keyword, _, arguments = pending.strip().partition(" ")
            instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, arguments in _dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, arguments))
    return stages


def _mosquitto_setting(key: str) -> str:
    for line in MOSQUITTO_CONF.read_text().splitlines():
        if line.startswith(f"{key} "):
            return line.split(None, 1)[1]
    raise AssertionError(f"mosquitto.conf has no {key}")


def _volume_targets(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of every volume of a service (short and long syntax)."""
    targets: dict[str, str] = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            targets[volume["target"]] = volume["source"]
        else:
            source, target = str(volume).split(":")[:2]
            targets[target] = source
    return targets


# --- the compose file ------------------------------------------------------------------------


def test_every_service_is_known_as_long_running_or_one_shot() -> None:
    assert set(_services()) == LONG_RUNNING | ONE_SHOT


def test_images_are_pinned_and_the_nursery_services_share_one_build() -> None:
    services = _services()
    assert re.fullmatch(
        r"timescale/timescaledb:\d+\.\d+\.\d+-pg\d+", services["timescaledb"]["image"]
    )
    assert re.fullmatch(r"eclipse-mosquitto:2\.0\.\d+", services["mosquitto"]["image"])
    for name in set(services) - {"timescaledb", "mosquitto"}:
        assert services[name]["image"] == NURSERY_IMAGE, name
        assert services[name]["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name


def test_only_the_devices_tls_listener_and_the_api_are_published() -> None:
    services = _services()
    published = {name: _published_ports(service) for name, service in services.items()}
    assert published.pop("mosquitto") == {8883}
    assert published.pop("api") == {8000}
    assert all(not ports for ports in published.values()), published
    # The plain listener and the database stay on the compose network.
    assert "1883" in services["mosquitto"]["expose"]
    assert "ports" not in services["timescaledb"]


def test_long_running_services_restart_and_report_their_health() -> None:
    services = _services()
    for name in LONG_RUNNING:
        service = services[name]
        assert service["restart"] == "unless-stopped", name
        check = service["healthcheck"]
        assert not check.get("disable"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert len(check["test"]) > 1, name
        assert {"interval", "timeout", "retries"} <= set(check), name
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no", name
        # The image's check probes the API, which a job is not.
        assert services[name]["healthcheck"] == {"disable": True}, name


def test_dependencies_wait_for_health_or_for_completion() -> None:
    services = _services()
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            expected = (
                "service_healthy"
                if dependency in LONG_RUNNING
                else "service_completed_successfully"
            )
            assert condition == {"condition": expected}, f"{name} -> {dependency}"
    edges = {name: set(service.get("depends_on", {})) for name, service in services.items()}
    assert edges["timescaledb"] == {"init"}
    assert edges["mosquitto"] == {"init"}
    assert edges["collector"] == {"timescaledb", "mosquitto"}
    assert edges["api"] == {"timescaledb", "mosquitto"}
    assert edges["demo-provision"] == {"api", "mosquitto"}
    assert edges["demo-device-1"] == edges["demo-device-2"] == {"demo-provision", "collector"}


def test_what_changes_broker_accounts_runs_as_the_broker_and_can_signal_it() -> None:
    services = _services()
    password_file = _mosquitto_setting("password_file")
    pid_file = _mosquitto_setting("pid_file")
    accounts = str(Path(password_file).parent)
    assert Path(pid_file).parent == Path(accounts)
    assert _volume_targets(services["mosquitto"])[accounts] == "accounts"
    for name in ("init", "api", "demo-provision"):
        service = services[name]
        assert service["user"] == BROKER_UID, name
        assert _volume_targets(service)[accounts] == "accounts", name
        assert _environment(service)["MOSQUITTO_PASSWORD_FILE"] == password_file, name
    # Those that reload the broker (SIGHUP) see its process and started after it.
    for name in ("api", "demo-provision"):
        service = services[name]
        assert service["pid"] == "service:mosquitto", name
        assert "mosquitto" in service["depends_on"], name
        assert _environment(service)["MOSQUITTO_PID_FILE"] == pid_file, name


def test_the_broker_runs_the_projects_config_and_never_sees_the_ca_key() -> None:
    broker = _services()["mosquitto"]
    volumes = broker["volumes"]
    assert "./mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in volumes
    # The ACL the broker reads is rendered by init from the template into the accounts volume.
    acl_file = _mosquitto_setting("acl_file")
    assert Path(acl_file).parent == Path(_mosquitto_setting("password_file")).parent
    init = _services()["init"]
    assert _environment(init)["MOSQUITTO_ACL_FILE"] == acl_file
    assert (
        "./mosquitto/acl:" + _environment(init)["MOSQUITTO_ACL_TEMPLATE"] + ":ro"
        in (init["volumes"])
    )
    certificates = {volume["target"]: volume for volume in volumes if isinstance(volume, dict)}
    for key in ("cafile", "certfile", "keyfile"):
        mount = certificates[_mosquitto_setting(key)]
        assert mount["type"] == "bind", key
        assert mount["read_only"] is True, key
        assert mount["source"].startswith("./mosquitto/certs/"), key
    sources = [
        str(source)
        for service in _services().values()
        for source in _volume_targets(service).values()
    ]
    assert not [source for source in sources if "ca.key" in source]


def test_the_demo_profile_adds_simulated_devices_replaying_the_test_clips() -> None:
    services = _services()
    for name, service in services.items():
        expected = ["demo"] if name in DEMO else ["tools"] if name == "certs" else None
        assert service.get("profiles") == expected, name
    copied = [arguments for keyword, arguments in _stages()[-1] if keyword == "COPY"]
    assert (
        "tests/data/audio/*.flac tests/data/audio/ATTRIBUTION.md /opt/nursery/demo-audio/" in copied
    )
    for name in ("demo-device-1", "demo-device-2"):
        service = services[name]
        assert "nursery-edge simulate" in service["command"][0], name
        clips = _environment(service)["DEMO_AUDIO"].split()
        assert clips, name
        for clip in clips:
            assert clip.startswith("/opt/nursery/demo-audio/"), clip
            assert (REPO / "tests" / "data" / "audio" / Path(clip).name).is_file(), clip
    assert any(
        "cry" in Path(clip).name
        for clip in _environment(services["demo-device-1"])["DEMO_AUDIO"].split()
    )


def test_no_secret_is_written_into_the_compose_file() -> None:
    for name, service in _services().items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                # Exactly one mandatory variable, itself a secret of .env.
                source = re.fullmatch(r"\$\{([A-Z_]+):\?[^}]*\}", value)
                assert source, f"{name}: {key} must come from .env"
                assert SECRET_NAME.search(source.group(1)), f"{name}: {key}"
            if key == "DATABASE_URL":
                assert re.fullmatch(
                    r"postgresql://nursery:\$\{POSTGRES_PASSWORD:\?[^}]*\}@timescaledb:5432/nursery",
                    value,
                ), name


def test_every_variable_is_in_env_example_whose_secrets_are_placeholders() -> None:
    strings = _strings(_compose())
    used = {name for text in strings for name in VARIABLE.findall(text)}
    example = _env_example()
    assert used - set(example) == set(), "used in docker-compose.yml, missing in .env.example"
    assert set(example) - used == set(), "in .env.example, unused by docker-compose.yml"
    for name, value in example.items():
        if SECRET_NAME.search(name):
            assert value.startswith(PLACEHOLDER), f"{name} must be a {PLACEHOLDER}-... placeholder"
            # Every use is mandatory: Compose stops instead of starting with an empty secret.
            pattern = r"(?<!\$)\$\{" + name + r"([^}]*)\}"
            uses = [use for text in strings for use in re.findall(pattern, text)]
            assert uses, name
            assert all(use.startswith(":?") for use in uses), name


def test_every_setting_the_processes_read_is_set_by_the_compose_file() -> None:
    # What cloud/config.py (and the push settings it reads through cloud/push/settings.py)
    # reads: env.get("NAME"...), _int(env, "NAME"...), _require(env, "NAME").
    sources = [REPO / "cloud" / "config.py", REPO / "cloud" / "push" / "settings.py"]
    read = set(
        re.findall(
            r'(?:env\.get\(|_int\(\s*env,\s*|_require\(\s*env,\s*)"([A-Z][A-Z0-9_]*)"',
            "\n".join(source.read_text() for source in sources),
        )
    )
    assert "DATABASE_URL" in read, "the pattern no longer finds the settings"
    passed = {key for service in _services().values() for key in _environment(service)}
    # The services reach the broker on its plain internal listener: no CA to trust.
    # The embedded collector's own account: only `serve` reads it, and compose runs the
    # collector and the API as processes of their own.
    # http:// push endpoints are for tests and local development (refused in production).
    deliberately_unset = {
        "MQTT_CA_FILE",
        "NURSERY_COLLECTOR_MQTT_USERNAME",
        "NURSERY_COLLECTOR_MQTT_PASSWORD",
        "NURSERY_PUSH_ALLOW_HTTP",
    }
    missing = read - passed - deliberately_unset
    assert missing == set(), "add them to docker-compose.yml (from .env) and .env.example"


def test_every_single_dollar_in_the_compose_file_is_a_variable() -> None:
    # $$ is a literal $ (shell variables in the inline scripts); any other $ must start ${VAR}.
    stray = [
        text for text in _strings(_compose()) if re.search(r"\$(?!\{)", text.replace("$$", ""))
    ]
    assert stray == []


def test_env_is_git_ignored_and_its_example_is_not() -> None:
    def ignored(path: str) -> bool:
        check = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, check=False)
        assert check.returncode in (0, 1), check
        return check.returncode == 0

    assert ignored(".env")
    assert ignored("mosquitto/certs/ca.key")
    assert not ignored(".env.example")


# --- the operations guide --------------------------------------------------------------------


def test_the_operations_guide_describes_every_service() -> None:
    guide = OPERATIONS_DOC.read_text()
    assert [name for name in _services() if f"`{name}`" not in guide] == []


def test_the_operations_guide_lists_exactly_the_collectors_metrics() -> None:
    exposed = {
        f"{family.name}_total" if family.type == "counter" else family.name
        for family in CollectorMetrics().registry.collect()
    }
    documented = set(
        re.findall(r"`(nursery_(?:collector|database)_[a-z_]+)", OPERATIONS_DOC.read_text())
    )
    assert documented == exposed


def _shell_lines(markdown: str) -> list[list[str]]:
    """The command lines of a document's fenced code blocks, continuations joined, as words."""
    lines: list[list[str]] = []
    for block in re.findall(r"```(?:bash)?\n(.*?)```", markdown, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                lines.append(words)
    return lines


def _command(words: list[str]) -> list[str]:
    """The command itself: without a leading sudo and VAR=value assignments, up to the first
    shell operator."""
    while words and (words[0] == "sudo" or re.fullmatch(r"[A-Z_]+=\S*", words[0])):
        words = words[1:]
    ends = [index for index, word in enumerate(words) if word in ("&&", "||", "|", ";", "<", ">")]
    return words[: ends[0]] if ends else words


def _parses(parser: argparse.ArgumentParser, arguments: list[str]) -> bool:
    try:
        parser.parse_args(arguments)
    except SystemExit:
        return False
    return True


def test_the_guides_commands_are_valid_command_lines() -> None:
    invocations: list[tuple[str, argparse.ArgumentParser, list[str]]] = []
    for guide in (OPERATIONS_DOC, PI_GUIDE):
        for words in _shell_lines(guide.read_text()):
            command = _command(words)
            if command and Path(command[0]).name == "nursery-edge" and command[1:] != ["--help"]:
                invocations.append((guide.name, edge_parser(), command[1:]))
            # `docker compose run [options] SERVICE ARGS`: ARGS go to the image's nursery-cloud.
            if command[:3] == ["docker", "compose", "run"]:
                services = [word for word in command if word in ("api", "certs", "init")]
                arguments = command[command.index(services[0]) + 1 :] if services else []
                if arguments:
                    invocations.append((guide.name, cloud_parser(), arguments))
    found = {guide for guide, _parser, _arguments in invocations}
    assert found == {OPERATIONS_DOC.name, PI_GUIDE.name}, "the guides' commands were not found"
    invalid = [(name, args) for name, parser, args in invocations if not _parses(parser, args)]
    assert invalid == []


# --- the image -------------------------------------------------------------------------------


def test_the_dockerfile_is_multi_stage_unprivileged_and_health_checked() -> None:
    arguments = [value for keyword, value in _dockerfile_instructions() if keyword == "ARG"]
    assert arguments[0].startswith("PYTHON_IMAGE=python:3.11-slim")
    builder, runtime = _stages()
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert runtime[0] == ("FROM", "${PYTHON_IMAGE}")
    assert any(
        keyword == "RUN" and "pip install" in value and ".[cloud,edge]" in value
        for keyword, value in builder
    )
    final = dict(runtime)
    assert any(
        keyword == "COPY" and value.startswith("--from=builder ") for keyword, value in runtime
    )
    user = final["USER"].split(":")[0]
    assert user not in ("root", "0"), "the final stage must run as an unprivileged user"
    assert " CMD " in final["HEALTHCHECK"]
    assert final["ENTRYPOINT"] == '["nursery-cloud"]'


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_private() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allow-list: everything out, then what the image needs"
    included = [pattern[1:] for pattern in patterns if pattern.startswith("!")]
    for path in included:
        assert (REPO / path).exists(), path
        assert not path.startswith((".env", ".git", ".venv", "var", "test-artifacts", "mosquitto"))
    for keyword, value in _dockerfile_instructions():
        if keyword != "COPY" or value.startswith("--from="):
            continue
        *sources, _destination = value.split()
        for source in sources:
            assert any(
                source.rstrip("/") == path or source.startswith(path + "/") for path in included
            ), f"COPY {source}: not in the build context (.dockerignore)"
            assert list(REPO.glob(source.rstrip("/"))), f"COPY {source}: nothing there"


# --- the inline scripts ----------------------------------------------------------------------


def _script(service: dict[str, Any]) -> str:
    command = service["command"]
    assert isinstance(command, list)
    assert len(command) == 1, "one script, passed to python -c or sh -c"
    return str(command[0]).replace("$$", "$")


def test_the_inline_scripts_parse() -> None:
    services = _services()
    for name in ("init", "demo-provision"):
        assert services[name]["entrypoint"] == ["python", "-c"], name
        compile(_script(services[name]), f"docker-compose.yml:{name}", "exec")
    shell_scripts = {"demo-device": _script(services["demo-device-1"])}
    for name, service in services.items():
        check = service.get("healthcheck", {}).get("test", [])
        if check and check[0] == "CMD-SHELL":
            shell_scripts[f"{name} healthcheck"] = str(check[1]).replace("$$", "$")
    for name, script in shell_scripts.items():
        parsed = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
        assert parsed.returncode == 0, f"{name}: {parsed.stderr}"


def _run_init(password_file: Path, secrets: dict[str, str]) -> subprocess.CompletedProcess[str]:
    scripts = str(Path(sys.executable).parent)  # nursery-cloud of this checkout
    env = {
        "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
        "MOSQUITTO_PASSWORD_FILE": str(password_file),
        "MOSQUITTO_ACL_TEMPLATE": str(REPO / "mosquitto" / "acl"),
        "MOSQUITTO_ACL_FILE": str(password_file.with_name("acl")),
        **secrets,
    }
    script = _script(_services()["init"])
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_the_init_job_refuses_placeholders_and_writes_the_service_accounts(
    tmp_path: Path,
) -> None:
    password_file = tmp_path / "passwd"
    secrets = {name: value for name, value in _env_example().items() if SECRET_NAME.search(name)}
    refused = _run_init(password_file, secrets)
    assert refused.returncode != 0
    assert "API_MQTT_PASSWORD" in refused.stderr
    assert "JWT_SECRET" in refused.stderr
    assert not password_file.exists()

    # A later start: a device was provisioned since, and the collector's password was rotated
    # in .env. The device must keep its account.
    old_collector = "svc.collector:" + hash_password("the-old-collector-password")
    second = "svc.collector.2:" + hash_password("the-second-collector-password")
    password_file.write_text(
        f"{old_collector}\n{second}\nnursery-0001:{hash_password('device-password')}\n"
    )
    chosen = {name: f"{name.lower()}-0123456789" for name in secrets}
    done = _run_init(password_file, chosen)
    assert done.returncode == 0, done.stderr

    entries = dict(line.split(":", 1) for line in password_file.read_text().splitlines())
    assert set(entries) == {"svc.collector", "svc.collector.2", "svc.api", "nursery-0001"}
    # The second collector instance has the collector's grants in the ACL the broker reads.
    assert "user svc.collector.2\ntopic read nursery/v1/+/telemetry" in (
        password_file.with_name("acl").read_text()
    )
    assert verify_password(chosen["COLLECTOR_MQTT_PASSWORD"], entries["svc.collector"])
    assert verify_password(chosen["API_MQTT_PASSWORD"], entries["svc.api"])
    assert verify_password("device-password", entries["nursery-0001"])


# --- docker-compose itself -------------------------------------------------------------------


def _docker_compose() -> str:
    binary = shutil.which("docker-compose")
    if binary is None:
        message = "docker-compose is not installed (apt-get install docker-compose; .ci/run does)"
        if under_ci():
            pytest.fail(f"{message}: required under CI", pytrace=False)
        pytest.skip(message)
    return binary


def _compose_config(env_file: Path, *options: str) -> subprocess.CompletedProcess[str]:
    # A clean environment: variables of the calling shell would override the env file's.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")}
    command = [_docker_compose(), "-f", str(COMPOSE_FILE), "--env-file", str(env_file)]
    return subprocess.run(
        [*command, *options, "config"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("profiles", [(), ("--profile", "demo", "--profile", "tools")])
def test_docker_compose_accepts_the_file_with_the_example_settings(
    profiles: tuple[str, ...],
) -> None:
    result = _compose_config(ENV_EXAMPLE, *profiles)
    assert result.returncode == 0, result.stderr
    assert "is not set" not in result.stderr, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    example = _env_example()
    api = resolved["api"]["environment"]
    assert api["NURSERY_DEVICE_MQTT_HOST"] == example["NURSERY_DEVICE_MQTT_HOST"]
    assert api["JWT_SECRET"] == example["JWT_SECRET"]
    assert f":{example['POSTGRES_PASSWORD']}@" in api["DATABASE_URL"]
    assert resolved["api"]["pid"] == "service:mosquitto"


def test_docker_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _compose_config(empty)
    assert result.returncode != 0
    assert "set it in .env" in result.stderr, result.stderr


def test_every_broker_config_holds_the_collectors_whole_window(tmp_path: Path) -> None:
    # The collector acknowledges only after commit: a broker window smaller than the
    # collector's in-flight bound caps its throughput without any error
    # (docs/performance.md, "Collector ingest").
    window = next(f.default for f in fields(CollectorSettings) if f.name == "max_in_flight")
    write_broker_config(tmp_path, 1883, {})
    configs = {
        "mosquitto.conf": MOSQUITTO_CONF.read_text(),
        "test.conf": (REPO / "mosquitto" / "test.conf").read_text(),
        "demo broker": (tmp_path / "mosquitto" / "mosquitto.conf").read_text(),
    }
    for name, text in configs.items():
        setting = re.search(r"^max_inflight_messages (\d+)$", text, re.MULTILINE)
        assert setting is not None, name
        assert int(setting.group(1)) >= cast(int, window), name
