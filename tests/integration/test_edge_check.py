"""``nursery-edge check`` as a real process against the harness's Mosquitto (the project's
password file and ACL): what the installer sees for a missing microphone, an unreachable
broker, wrong credentials, TLS against a plain listener, and a device that is ready - with the
real agent running (the check must not log in: it would take over the agent's session, the
broker's client id being the account name) and with the agent stopped (the check logs in)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cloud.broker.certificates import load_or_create_authority
from edge.audio import MicrophoneNotFoundError, list_input_devices
from edge.local_status import read_status
from tests.harness.edge_agent import EdgeAgentRunner, session_takeovers
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.network import free_port
from tests.harness.services import BrokerAccount, create_account

REPO = Path(__file__).resolve().parents[2]
CRY = REPO / "tests" / "data" / "audio" / "cry_donateacry.flac"
TIMEOUT_S = 60


@dataclass
class Row:
    outcome: str
    detail: str
    fix: list[str] = field(default_factory=list)


@dataclass
class Run:
    status: int
    rows: dict[str, Row]
    stdout: str


COMMAND = [sys.executable, "-m", "edge.cli", "--log-level", "WARNING", "check"]


def run_check(config: Path) -> Run:
    completed = subprocess.run(
        [*COMMAND, "--config", str(config), "--seconds", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    rows: dict[str, Row] = {}
    current: Row | None = None
    for line in completed.stdout.splitlines()[1:]:
        name, _, rest = line.partition(" ")
        if name in ("config", "sensor", "microphone", "model", "broker", "clock"):
            outcome, _, detail = rest.strip().partition(" ")
            current = rows[name] = Row(outcome, detail.strip())
        elif current is not None and line.startswith(" "):
            current.fix.append(line.strip().removeprefix("fix: "))
    return Run(completed.returncode, rows, completed.stdout + completed.stderr)


def write_config(
    tmp_path: Path,
    device_id: str,
    port: int,
    password: str | None,
    audio: str = f'source = "file"\nfiles = ["{CRY}"]\nrealtime = false',
    ca_file: Path | None = None,
    protocol: str = "5",
    state_dir: Path | None = None,
) -> Path:
    broker = f'host = "127.0.0.1"\nport = {port}\nprotocol = "{protocol}"\n'
    if password is not None:
        password_file = tmp_path / "broker-password"
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        broker += f'password_file = "{password_file}"\n'
    if ca_file is not None:
        broker += f'ca_file = "{ca_file}"\n'
    config = tmp_path / "config.toml"
    config.write_text(
        f'[device]\nid = "{device_id}"\nstate_dir = "{state_dir or tmp_path / "state"}"\n'
        f"[broker]\n{broker}"
        '[sensor]\nkind = "simulated"\n'
        f"[audio]\n{audio}\n"
    )
    return config


@pytest.fixture
def device(mosquitto: MosquittoBroker) -> BrokerAccount:
    return create_account(mosquitto, f"check-{uuid.uuid4().hex[:8]}")


def assert_exit_status_matches(run: Run) -> None:
    failed = any(row.outcome == "FAIL" for row in run.rows.values())
    assert run.status == (1 if failed else 0), run.stdout


def agent_runner(
    tmp_path: Path, mosquitto: MosquittoBroker, account: BrokerAccount
) -> EdgeAgentRunner:
    """The real agent (``nursery-edge run``) for this device, in a folder of its own."""
    (tmp_path / "agent").mkdir()
    return EdgeAgentRunner(tmp_path / "agent", mosquitto, account)


def test_a_ready_device_passes_and_a_running_agent_stays_connected(
    mosquitto: MosquittoBroker, device: BrokerAccount, tmp_path: Path
) -> None:
    runner = agent_runner(tmp_path, mosquitto, device)
    config = write_config(
        tmp_path, device.username, mosquitto.port, device.password, state_dir=runner.state_dir
    )
    agent = runner.start()
    try:
        before = runner.wait_for_status(lambda status: bool(status["connected"]))
        run = run_check(config)
        checked_at = time.time()
        # The agent's next status says whether its session survived the check.
        after = runner.wait_for_status(lambda status: True, after=checked_at)
    finally:
        assert agent.stop_cleanly(), agent.output()
    assert after["connected"], "the check took over the agent's session"
    assert after["sessions"] == before["sessions"] == 1, "the agent had to reconnect"
    assert session_takeovers(mosquitto, device.username) == 0, (
        "the check took over the agent's session"
    )
    for name in ("config", "sensor", "microphone", "model", "broker"):
        assert run.rows[name].outcome == "PASS", run.stdout
    assert run.rows["broker"].detail == (
        f"the running agent (pid {agent.process.pid}) is connected to "
        f"127.0.0.1:{mosquitto.port} as {device.username}"
    )
    # The clock is this machine's (WARN in a container without systemd): whatever it says,
    # the exit status must agree with the rows.
    assert_exit_status_matches(run)


def test_a_running_agent_that_cannot_log_in_fails_with_its_error_and_the_fix(
    mosquitto: MosquittoBroker, device: BrokerAccount, tmp_path: Path
) -> None:
    outdated = BrokerAccount(device.username, "an-outdated-password")
    runner = agent_runner(tmp_path, mosquitto, outdated)
    config = write_config(
        tmp_path, device.username, mosquitto.port, outdated.password, state_dir=runner.state_dir
    )
    agent = runner.start()
    try:
        runner.wait_for_status(lambda status: bool(status["last_error"]))
        run = run_check(config)
        assert agent.process.poll() is None, agent.output()
    finally:
        assert agent.stop_cleanly(), agent.output()
    broker = run.rows["broker"]
    assert broker.outcome == "FAIL", run.stdout
    assert broker.detail.startswith(
        f"the running agent (pid {agent.process.pid}) is not connected to "
        f"127.0.0.1:{mosquitto.port} as {device.username}: broker refused the connection: "
    ), run.stdout
    fix = "\n".join(broker.fix)
    for advice in ("broker.password_file", "journalctl -u nursery-edge", "systemctl stop"):
        assert advice in fix, run.stdout
    assert run.status == 1


def test_with_the_agent_stopped_the_check_logs_in(
    mosquitto: MosquittoBroker, device: BrokerAccount, tmp_path: Path
) -> None:
    runner = agent_runner(tmp_path, mosquitto, device)
    config = write_config(
        tmp_path, device.username, mosquitto.port, device.password, state_dir=runner.state_dir
    )
    agent = runner.start()
    try:
        runner.wait_for_status(lambda status: bool(status["connected"]))
    finally:
        assert agent.stop_cleanly(), agent.output()
    stopped = read_status(runner.state_dir)
    assert stopped is not None
    assert stopped["stopped_at"], "the agent's last status says it stopped"
    run = run_check(config)
    broker = run.rows["broker"]
    assert broker.outcome == "PASS", run.stdout
    assert broker.detail.startswith(
        f"127.0.0.1:{mosquitto.port} accepted {device.username} (plain TCP, MQTT 5) in "
    ), run.stdout
    assert broker.detail.endswith(" ms (no agent running: the check logged in itself)")
    assert_exit_status_matches(run)


def _has_input_devices() -> bool:
    try:
        return bool(list_input_devices())
    except MicrophoneNotFoundError:  # no sounddevice / PortAudio: no microphone either
        return False


@pytest.mark.parametrize(
    "audio_device", ["", "Nursery Test Microphone That Does Not Exist"], ids=["default", "named"]
)
def test_no_microphone_fails_with_the_fix(
    mosquitto: MosquittoBroker, device: BrokerAccount, tmp_path: Path, audio_device: str
) -> None:
    if audio_device == "" and _has_input_devices():
        pytest.skip("this machine has a default microphone")
    audio = f'source = "microphone"\ndevice = "{audio_device}"'
    config = write_config(tmp_path, device.username, mosquitto.port, device.password, audio)
    run = run_check(config)
    microphone = run.rows["microphone"]
    assert microphone.outcome == "FAIL", run.stdout
    fix = "\n".join(microphone.fix)
    for advice in ("audio.device", "arecord -l", "sudo apt-get install libportaudio2"):
        assert advice in fix, run.stdout
    # Everything else about the device is fine; the model and broker were still checked.
    assert run.rows["model"].outcome == "PASS"
    assert run.rows["broker"].outcome == "PASS"
    assert run.status == 1


def test_an_unreachable_broker_fails_with_the_network_fix(tmp_path: Path) -> None:
    port = free_port()  # bound and released at once: nobody listens there
    config = write_config(tmp_path, "check-unreachable", port, "whatever")
    run = run_check(config)
    broker = run.rows["broker"]
    assert broker.outcome == "FAIL", run.stdout
    assert broker.detail == (
        f"127.0.0.1:{port} unreachable: connection refused (nothing listens on that port)"
    )
    assert "check broker.host ('127.0.0.1') and broker.port" in broker.fix[0]
    assert "firewall" in broker.fix[0]
    assert run.status == 1


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_wrong_credentials_fail_with_the_credentials_fix(
    mosquitto: MosquittoBroker, device: BrokerAccount, tmp_path: Path, protocol: str
) -> None:
    config = write_config(
        tmp_path, device.username, mosquitto.port, "not-the-password", protocol=protocol
    )
    run = run_check(config)
    broker = run.rows["broker"]
    assert broker.outcome == "FAIL", run.stdout
    assert f"refused the credentials of {device.username}" in broker.detail
    assert "(CONNACK 134)" in broker.detail or "(CONNACK 135)" in broker.detail
    assert "broker.password_file" in broker.fix[0]
    assert "nursery-edge setup" in broker.fix[0]
    assert run.status == 1


def test_tls_against_a_plain_listener_fails_with_the_tls_fix(
    mosquitto: MosquittoBroker, device: BrokerAccount, tmp_path: Path
) -> None:
    # Any CA will do: the listener speaks plain MQTT, so the TLS handshake fails before the CA
    # matters. A CA of our own keeps the test independent of the machine's CA bundle.
    load_or_create_authority(tmp_path / "ca")  # writes ca.key and ca.crt
    config = write_config(
        tmp_path,
        device.username,
        mosquitto.port,
        device.password,
        ca_file=tmp_path / "ca" / "ca.crt",
    )
    run = run_check(config)
    broker = run.rows["broker"]
    assert broker.outcome == "FAIL", run.stdout
    assert broker.detail.startswith(f"TLS with 127.0.0.1:{mosquitto.port} failed"), run.stdout
    assert "broker.ca_file" in broker.fix[0]
    assert run.status == 1


def test_an_invalid_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[device]\nid = "x"\n[broker]\nhost = "127.0.0.1"\n')
    run = run_check(config)
    assert run.rows["config"].outcome == "FAIL"
    assert "device.id" in run.rows["config"].detail
    assert run.status == 2
