"""The broker check: can this device log in to the broker, and if not, why not.

While the agent runs, the check does not log in: the broker gives every connection its account
name as client id (``use_username_as_clientid``), so a second login with the device's account
would take over the agent's session. It reports the running agent's own connection instead
(``edge.checks.running_agent``). With no agent running it logs in with the device's credentials
and tells apart an unreachable host, refused credentials, TLS trouble and a wrong port.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from edge.checks.broker_fixes import credentials_fix, tls_fix, unreachable_fix
from edge.checks.result import CheckResult, Outcome
from edge.checks.running_agent import judge_running_agent, running_agent_status
from edge.config import AgentConfig, ConfigError
from edge.publish.mqtt_client import BrokerSettings, new_client

NAME = "broker"
TIMEOUT_S = 5.0
# CONNACK reasons for a refused login. Mosquitto answers a wrong password with 135 ("not
# authorized") like an unknown user; 134 ("bad user name or password") is what the MQTT 5
# specification suggests. paho maps MQTT 3.1.1's return codes 4 and 5 onto the same two.
BAD_LOGIN = {134, 135}
UNSUPPORTED_PROTOCOL = 132
_LOOP_STEP_S = 0.1


@dataclass
class _Attempt:
    connack: ReasonCode | None = None
    lost: MQTTErrorCode | None = None  # the connection ended before a CONNACK


def broker_settings(config: AgentConfig, password: str | None, timeout_s: float) -> BrokerSettings:
    broker = config.broker
    return BrokerSettings(
        host=broker.host,
        port=broker.port,
        username=broker.username or config.device.id,
        password=password,
        ca_file=str(broker.ca_file) if broker.ca_file else None,
        keepalive_s=broker.keepalive_s,
        protocol=broker.mqtt_protocol,
        connect_timeout_s=timeout_s,
    )


def check_broker(config: AgentConfig, timeout_s: float = TIMEOUT_S) -> CheckResult:
    try:
        password = config.broker_password()
    except ConfigError as exc:
        return CheckResult(NAME, Outcome.FAIL, str(exc), credentials_fix())
    settings = broker_settings(config, password, timeout_s)
    state_dir = Path(config.device.state_dir)
    try:
        agent = running_agent_status(state_dir)
    except PermissionError:
        return CheckResult(
            NAME,
            Outcome.FAIL,
            f"cannot read the agent's status in {state_dir} (permission denied), so cannot "
            "tell whether it runs; a login now could take over its session",
            "run the check with sudo (the agent's state folder is private to it)",
        )
    if agent is not None:
        return judge_running_agent(agent, settings)
    return _log_in(config.device.id, settings, timeout_s)


def _log_in(device_id: str, settings: BrokerSettings, timeout_s: float) -> CheckResult:
    # The broker replaces the client id with the account name; a broker without that setting
    # would drop a session with the same id, hence an id of the check's own.
    try:
        client = new_client(f"{device_id}-check", settings)
    except (OSError, ValueError) as exc:  # ca_file missing or not a PEM certificate
        return CheckResult(
            NAME, Outcome.FAIL, f"TLS: cannot load broker.ca_file: {exc}", tls_fix(settings)
        )
    attempt = _Attempt()

    def on_connect(
        _client: mqtt.Client, _userdata: object, _flags: object, reason: ReasonCode, _p: object
    ) -> None:
        attempt.connack = reason

    client.on_connect = on_connect
    started = time.monotonic()
    try:
        client.connect(settings.host, settings.port, settings.keepalive_s)
        _wait_for_connack(client, attempt, started + timeout_s)
    except OSError as exc:
        failure = _connection_failure(exc, settings, timeout_s)
        if failure is not None:
            return failure
        attempt.lost = MQTTErrorCode.MQTT_ERR_CONN_LOST
    finally:
        _close(client, attempt)
    return _judge(attempt, settings, (time.monotonic() - started) * 1000.0)


def _connection_failure(
    exc: OSError, settings: BrokerSettings, timeout_s: float
) -> CheckResult | None:
    """What a socket error during connect means; None when the broker accepted TCP and then
    closed a plain connection, which ``_judge`` explains like any other lost connection."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, ssl.SSLError):  # certificate not trusted, wrong host name, not TLS
        return CheckResult(NAME, Outcome.FAIL, f"TLS with {where} failed: {exc}", tls_fix(settings))
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        # TCP was accepted, then dropped at the first bytes: the listener did not understand
        # them, typically a TLS handshake sent to a plain MQTT port.
        if settings.ca_file is None:
            return None
        return CheckResult(
            NAME,
            Outcome.FAIL,
            f"TLS with {where} failed: the broker dropped the handshake ({exc.strerror})",
            tls_fix(settings),
        )
    return CheckResult(
        NAME,
        Outcome.FAIL,
        f"{where} unreachable: {_network_problem(exc, timeout_s)}",
        unreachable_fix(settings),
    )


def _wait_for_connack(client: mqtt.Client, attempt: _Attempt, deadline: float) -> None:
    while attempt.connack is None and time.monotonic() < deadline:
        result = client.loop(timeout=_LOOP_STEP_S)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS and attempt.connack is None:
            attempt.lost = result
            return


def _close(client: mqtt.Client, attempt: _Attempt) -> None:
    if attempt.connack is not None and not attempt.connack.is_failure:
        client.disconnect()
        client.loop(timeout=_LOOP_STEP_S)  # sends the DISCONNECT: a clean goodbye, no will
    sock: Any = client.socket()
    if sock is not None:
        sock.close()


def _judge(attempt: _Attempt, settings: BrokerSettings, elapsed_ms: float) -> CheckResult:
    where = f"{settings.host}:{settings.port}"
    transport = "TLS" if settings.ca_file else "plain TCP"
    protocol = "MQTT 5" if settings.protocol == mqtt.MQTTv5 else "MQTT 3.1.1"
    reason = attempt.connack
    if reason is not None and not reason.is_failure:
        return CheckResult(
            NAME,
            Outcome.PASS,
            f"{where} accepted {settings.username} ({transport}, {protocol}) in "
            f"{elapsed_ms:.0f} ms (no agent running: the check logged in itself)",
        )
    if reason is not None and reason.value in BAD_LOGIN:
        missing = "" if settings.password else "; no password is configured"
        return CheckResult(
            NAME,
            Outcome.FAIL,
            f"{where} refused the credentials of {settings.username}: {reason} "
            f"(CONNACK {reason.value}){missing}",
            credentials_fix(),
        )
    if reason is not None:
        fix = (
            'the broker does not speak MQTT 5: set broker.protocol = "3.1.1"'
            if reason.value == UNSUPPORTED_PROTOCOL
            else f"the broker refused the connection ({reason}); ask the operator to look at "
            "the broker's log for this device"
        )
        return CheckResult(
            NAME, Outcome.FAIL, f"{where} refused: {reason} (CONNACK {reason.value})", fix
        )
    what = "closed the connection" if attempt.lost is not None else "did not answer"
    return CheckResult(
        NAME,
        Outcome.FAIL,
        f"{where} accepted TCP but {what} before a CONNACK ({transport}, {protocol})",
        "broker.port must be the broker's MQTT port, and TLS must match the listener: a TLS "
        "port (usually 8883) needs broker.ca_file, a plain one (usually 1883) must not have it",
    )


def _network_problem(exc: OSError, timeout_s: float) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens on that port)"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:.0f} s"
    return exc.strerror or str(exc)
