"""The device's link to the broker: drains the outbox in order, keeps device state, reconnects.

One thread owns the paho client (``client.loop()`` is called only there), so every callback and
every publish happens on it and no paho state is shared between threads. Producers only touch
the outbox and ``publish_state``.

Delivery: at most ``max_in_flight`` outbox messages are handed to paho at a time, oldest first.
A message is deleted from the outbox when its PUBACK arrives. After a reconnect paho resends its
unacknowledged messages itself (with the DUP flag), then the feed continues; after a restart the
whole outbox is sent again. Either way the cloud may see a message twice, never zero times, and
deduplicates by ``(device_id, seq)``.

State kinds (status, reported config) are "latest value wins": they are retained by the broker,
not queued on disk; the latest of each is (re)published whenever a session comes up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.publish.backoff import Backoff, BackoffPolicy
from edge.publish.mqtt_client import BrokerSettings, new_client
from edge.publish.outbox import Outbox
from models.contract import (
    DELIVERY_POLICIES,
    ContractError,
    DesiredConfig,
    Envelope,
    IgnoreList,
    MessageKind,
    ReportedConfig,
    Status,
    decode_message,
    kind_of,
    topic_for,
)

logger = logging.getLogger(__name__)

# Longest sleep between refreshes of ``last_loop_at`` (the daemon's watchdog reads it).
ALIVE_SLICE_S = 5.0

StatusFactory = Callable[[str], Status]
DesiredConfigHandler = Callable[[DesiredConfig], None]
IgnoreListHandler = Callable[[IgnoreList], None]
# A retained message the cloud keeps for the device (its settings, its sounds to ignore).
_State = TypeVar("_State", DesiredConfig, IgnoreList)


@dataclass(frozen=True, slots=True)
class ConnectionStats:
    connected: bool
    sessions: int  # successful CONNACKs since start
    acknowledged: int  # outbox messages the broker acknowledged since start
    refused: int  # publishes the broker answered with a failure reason code
    last_error: str | None


class DeviceConnection:
    """Publishes the outbox and device state for one device, reconnecting with backoff."""

    def __init__(
        self,
        device_id: str,
        settings: BrokerSettings,
        outbox: Outbox,
        status: StatusFactory,
        on_desired_config: DesiredConfigHandler | None = None,
        backoff: BackoffPolicy | None = None,
        max_in_flight: int = 20,
        poll_s: float = 0.05,
        on_ignore_list: IgnoreListHandler | None = None,
    ) -> None:
        self._device_id = device_id
        self._settings = settings
        self._outbox = outbox
        self._status = status
        self._on_desired_config = on_desired_config
        self._backoff = Backoff(backoff or BackoffPolicy())
        self._max_in_flight = max_in_flight
        self._poll_s = poll_s
        self._client = new_client(device_id, settings)
        self._client.max_inflight_messages_set(max_in_flight)
        self._client.on_connect = self._handle_connect
        self._client.on_publish = self._handle_publish
        self._client.on_message = self._handle_message
        self._desired_topic = topic_for(device_id, MessageKind.DESIRED_CONFIG)
        self._on_ignore_list = on_ignore_list
        self._ignore_topic = topic_for(device_id, MessageKind.IGNORE_LIST)

        self._lock = threading.Lock()
        self._latest_state: dict[MessageKind, Envelope] = {}
        self._state_dirty: set[MessageKind] = set()
        self._in_flight: dict[int, int] = {}  # paho mid -> outbox seq
        self._state_in_flight: set[int] = set()
        self._fed_up_to = -1  # highest seq handed to paho in this process
        self._socket_open = False
        self._session_up = False
        self._sessions = 0
        self._acknowledged = 0
        self._refused = 0
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._flush_deadline: float | None = None
        self._drained = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_loop_at = time.monotonic()  # watchdog: the thread is alive and looping

    # ---- called from other threads ----

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._thread.start()

    def publish_state(self, payload: Status | ReportedConfig) -> None:
        """Publish retained device state now if connected, else as soon as a session is up."""
        with self._lock:
            kind = kind_of(payload)
            self._latest_state[kind] = payload
            self._state_dirty.add(kind)

    @property
    def connected(self) -> bool:
        return self._session_up

    def stats(self) -> ConnectionStats:
        with self._lock:
            return ConnectionStats(
                self._session_up,
                self._sessions,
                self._acknowledged,
                self._refused,
                self._last_error,
            )

    def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Send what can be sent within the timeout, say ``offline`` and disconnect cleanly.

        Whatever is not acknowledged by then stays in the outbox for the next start.
        """
        self._flush_deadline = time.monotonic() + flush_timeout_s
        self._stop.set()
        if self._thread is not None:
            self._thread.join(flush_timeout_s + 5.0)

    # ---- the MQTT thread ----

    def _run(self) -> None:
        try:
            while True:
                self.last_loop_at = time.monotonic()
                if self._stop.is_set() and self._ready_to_leave():
                    break
                if not self._socket_open and (self._stop.is_set() or not self._open_socket()):
                    self._wait_before_retry()
                    continue
                rc = self._client.loop(timeout=self._poll_s)
                if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    self._connection_lost(rc)
                    continue
                if self._session_up:
                    self._publish_dirty_state()
                    if not self._stop.is_set() or self._flush_deadline is not None:
                        self._feed()
            self._say_goodbye()
        except Exception:
            # Never let the thread die silently: the watchdog sees last_loop_at go stale and
            # systemd restarts the daemon; the outbox keeps everything.
            logger.exception("MQTT thread failed")
            raise

    def _ready_to_leave(self) -> bool:
        if not self._session_up:
            return True
        drained = not self._in_flight and not self._outbox.pending(self._fed_up_to, 1)
        deadline_passed = self._flush_deadline is None or time.monotonic() >= self._flush_deadline
        return drained or deadline_passed

    def _open_socket(self) -> bool:
        will = self._status("offline")
        policy = DELIVERY_POLICIES[MessageKind.STATUS]
        self._client.will_set(
            topic_for(self._device_id, MessageKind.STATUS),
            will.to_json(),
            policy.qos,
            policy.retain,
        )
        try:
            if self._settings.protocol == MQTTProtocolVersion.MQTTv5:
                self._client.connect(
                    self._settings.host,
                    self._settings.port,
                    self._settings.keepalive_s,
                    clean_start=True,
                )
            else:
                self._client.connect(
                    self._settings.host, self._settings.port, self._settings.keepalive_s
                )
        except (OSError, ValueError) as exc:
            self._note_error(
                f"cannot reach broker {self._settings.host}:{self._settings.port}: {exc}"
            )
            return False
        self._socket_open = True
        return True

    def _wait_before_retry(self) -> None:
        if self._stop.is_set():
            return
        delay = self._backoff.next_delay()
        logger.debug("reconnecting in %.1f s (attempt %d)", delay, self._backoff.attempts)
        # Waiting is not hanging: keep the watchdog's view of this thread fresh while the
        # broker stays away (backoff grows to minutes).
        deadline = time.monotonic() + delay
        while not self._stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            self.last_loop_at = time.monotonic()
            self._stop.wait(min(remaining, ALIVE_SLICE_S))

    def _connection_lost(self, rc: MQTTErrorCode) -> None:
        if self._session_up:
            logger.warning(
                "lost the broker connection (%s); outbox holds %d message(s)",
                mqtt.error_string(rc),
                self._outbox.depth,
            )
        self._socket_open = False
        self._session_up = False
        with self._lock:
            # State publishes that were in flight are sent again, fresh, by the next session.
            self._state_dirty.update(self._latest_state)
            self._state_in_flight.clear()
        self._wait_before_retry()

    def _handle_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: object,
    ) -> None:
        if reason_code.is_failure:
            self._note_error(f"broker refused the connection: {reason_code}")
            return
        self._session_up = True
        with self._lock:
            self._sessions += 1
            self._last_error = None
        self._backoff.reset()
        logger.info("connected to %s:%s", self._settings.host, self._settings.port)
        self.publish_state(self._status("online"))
        client.subscribe(self._desired_topic, qos=DELIVERY_POLICIES[MessageKind.DESIRED_CONFIG].qos)
        if self._on_ignore_list is not None:
            client.subscribe(self._ignore_topic, qos=DELIVERY_POLICIES[MessageKind.IGNORE_LIST].qos)

    def _handle_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: object,
    ) -> None:
        self._state_in_flight.discard(mid)
        seq = self._in_flight.pop(mid, None)
        if seq is None:
            return
        if reason_code.is_failure:
            # The broker will not take it (an ACL mistake, say). Keep it on disk - it is sent
            # again after the next restart - rather than lose it; say so loudly.
            with self._lock:
                self._refused += 1
            self._note_error(f"broker refused message seq {seq}: {reason_code}")
            return
        self._outbox.acknowledge(seq)
        with self._lock:
            self._acknowledged += 1

    def _handle_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        """The cloud's retained state for this device: its settings or its sounds to ignore."""
        if msg.topic == self._desired_topic and self._on_desired_config is not None:
            config = self._decoded(msg, "desired config")
            if isinstance(config, DesiredConfig):
                _apply(self._on_desired_config, config, "desired config")
        elif msg.topic == self._ignore_topic and self._on_ignore_list is not None:
            sounds = self._decoded(msg, "list of sounds to ignore")
            if isinstance(sounds, IgnoreList):
                _apply(self._on_ignore_list, sounds, "sounds-to-ignore")

    @staticmethod
    def _decoded(msg: mqtt.MQTTMessage, what: str) -> Envelope | None:
        try:
            return decode_message(msg.topic, bytes(msg.payload))
        except ContractError as exc:
            logger.error("ignoring a malformed %s: %s", what, exc)
            return None

    def _feed(self) -> None:
        room = self._max_in_flight - len(self._in_flight)
        if room <= 0:
            return
        for message in self._outbox.pending(self._fed_up_to, room):
            policy = DELIVERY_POLICIES[message.kind]
            info = self._client.publish(
                topic_for(self._device_id, message.kind),
                message.payload,
                qos=policy.qos,
                retain=policy.retain,
            )
            # Queued by paho even if the connection just dropped: it is resent on reconnect.
            self._in_flight[info.mid] = message.seq
            self._fed_up_to = message.seq

    def _publish_dirty_state(self) -> None:
        with self._lock:
            dirty = [self._latest_state[kind] for kind in sorted(self._state_dirty)]
            self._state_dirty.clear()
        for payload in dirty:
            kind = kind_of(payload)
            policy = DELIVERY_POLICIES[kind]
            info = self._client.publish(
                topic_for(self._device_id, kind), payload.to_json(), policy.qos, policy.retain
            )
            self._state_in_flight.add(info.mid)

    def _say_goodbye(self) -> None:
        """A clean disconnect does not fire the last will, so publish ``offline`` ourselves."""
        if self._session_up:
            info = self._client.publish(
                topic_for(self._device_id, MessageKind.STATUS),
                self._status("offline").to_json(),
                qos=1,
                retain=True,
            )
            deadline = time.monotonic() + 2.0
            while not info.is_published() and time.monotonic() < deadline:
                if self._client.loop(timeout=self._poll_s) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
            self._client.disconnect()
            self._client.loop(timeout=self._poll_s)
        self._session_up = False
        self._socket_open = False
        logger.info("MQTT stopped; %d message(s) left in the outbox", self._outbox.depth)

    def _note_error(self, message: str) -> None:
        with self._lock:
            repeated = message == self._last_error
            self._last_error = message
        # A broker that is down for an hour must not fill the log with one line per attempt.
        logger.log(logging.DEBUG if repeated else logging.WARNING, "%s", message)


def _apply(handler: Callable[[_State], None], payload: _State, what: str) -> None:
    """Hand a decoded message to its handler; a failing handler must not stop the MQTT loop."""
    try:
        handler(payload)
    except Exception:
        logger.exception("applying the %s revision %d failed", what, payload.seq)
