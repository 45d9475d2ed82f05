"""The edge agent at run time: threads for the sensor, the audio and MQTT, and a main loop.

- sensor thread: samples the climate sensor every ``sensor.read_interval_s`` (the sampler keeps
  the median of good reads and counts failures; it never raises).
- audio thread: microphone chunks -> live detector -> cry events into the outbox at once; the
  same chunks feed the loud-sound fallback (``loud_sound`` events) and the microphone self-check.
- MQTT thread (``DeviceConnection``): drains the outbox, publishes status, receives config.
- main loop: telemetry every ``telemetry_interval_s``, status heartbeats, the systemd watchdog;
  the clock check every few minutes, and a status at once when the set of faults changes.

Nothing is published directly: stream messages go through the outbox, so the only thing a crash
can lose is a message that was never created.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from edge.audio import AudioSource, AudioSourceError
from edge.detection import (
    LiveDetector,
    LoudSoundDetector,
    MicrophoneHealth,
    SoundLevelMeter,
    TimedCryEvent,
    TimedLoudSound,
    heard_for_event,
)
from edge.health import HealthSnapshot, StatusReporter
from edge.ignored_episode import IgnoredEpisodeWatch
from edge.local_status import (
    REQUEST_POLL_INTERVAL_S,
    REQUESTS_DIR,
    STATUS_WRITE_INTERVAL_S,
    take_test_alert_request,
    write_status,
)
from edge.publish.backoff import BackoffPolicy
from edge.publish.connection import DeviceConnection
from edge.publish.mqtt_client import BrokerSettings
from edge.publish.outbox import Outbox
from edge.remote_config import RemoteConfig
from edge.sensors import ClimateSampler
from edge.sounds_to_ignore import SoundsToIgnore, ignored_because, log_not_alerted
from edge.systemd import SystemdNotifier
from edge.timesync import ClockMonitor
from models.contract import DeviceSettings, Event, IgnoredBecause, ReportedConfig, Telemetry
from models.cry.ignore import IgnoreRule

logger = logging.getLogger(__name__)

# A worker thread that has not looped for this long is stuck: stop pinging the watchdog and let
# systemd restart the daemon.
STUCK_AFTER_S = 30.0
# No audio for this long from a live source is a microphone fault (unplugged, muted driver).
AUDIO_SILENT_FAULT_S = 5.0
AUDIO_RETRY_S = 30.0
# Longest sleep between heartbeat refreshes, well under STUCK_AFTER_S.
ALIVE_SLICE_S = 5.0
# How often the main loop looks whether the faults changed, and the least time between two
# statuses sent for a change: a fault is reported within seconds, and one that flaps cannot
# flood the broker.
FAULT_CHECK_INTERVAL_S = 1.0
FAULT_STATUS_MIN_GAP_S = 5.0
# While a cry episode is open, how often the outbox notes that the device is still alive: a
# power cut's episode is closed at that time on the next start (one small synchronous write
# every couple of seconds, only while the baby cries).
EPISODE_ALIVE_EVERY_S = 2.0
# Why an episode ended without the detector hearing it end.
RESTARTED = "device_restarted"
MAX_DURATION_S = 86_400.0
# The contract's bound on a fault's sentence (models/contract/payloads.py FaultDetail).
FAULT_DETAIL_MAX = 300


@dataclass
class AgentParts:
    """What the composition root (``edge.assembly``) builds from the config file."""

    device_id: str
    settings: DeviceSettings
    outbox: Outbox
    broker: BrokerSettings
    backoff: BackoffPolicy
    max_in_flight: int
    remote_state_path: Path
    sampler: ClimateSampler | None
    sensor_interval_s: float
    audio: AudioSource | None
    live: LiveDetector | None
    meter: SoundLevelMeter | None
    loud: LoudSoundDetector | None
    microphone: MicrophoneHealth | None
    clock: ClockMonitor
    firmware_version: str
    model_version: str | None
    flush_timeout_s: float
    notifier: SystemdNotifier
    # Where the local status file and request folder live (``edge.local_status``).
    state_dir: Path | None = None
    # What the cry detector runs ("cascade", "small", "degraded: <why>"; None without audio),
    # and when stage two failed to load, the ``cry_model_degraded`` fault's sentence.
    detector_mode: str | None = None
    detector_fault: str | None = None
    # The episodes' fingerprints and the home's "not a cry" list (edge.sounds_to_ignore);
    # None keeps them in RAM.
    sound_memory_path: Path | None = None


class EdgeAgent:
    def __init__(self, parts: AgentParts) -> None:
        self._parts = parts
        self._outbox = parts.outbox
        self._stop = threading.Event()
        # Wakes the main loop early: a stop request, or new settings that shorten an interval.
        self._wake = threading.Event()
        self._episode_id: int | None = None
        self._episode_alive_noted = 0.0
        self._audio_errors = 0
        self._last_audio_at = time.monotonic()
        self._heartbeats: dict[str, float] = {}
        self._threads: list[threading.Thread] = []
        self.telemetry_sent = 0  # since start; `nursery-edge simulate --count` stops on it
        self._started_at = datetime.now(UTC)
        # What `nursery-edge status` shows besides the health snapshot.
        self._last_reading: dict[str, object] | None = None
        self._last_event: dict[str, object] | None = None
        self._test_alert: dict[str, object] | None = None
        self._next_status_write = 0.0
        self._reported_faults: list[str] = []
        self._next_fault_status = 0.0
        self._reporter = StatusReporter(
            parts.device_id,
            parts.firmware_version,
            parts.model_version,
            snapshot=self._health,
            high_water_seq=self._outbox.last_assigned_seq,
        )
        self._remote = RemoteConfig(
            parts.device_id,
            parts.settings,
            parts.remote_state_path,
            apply=self._apply_settings,
            report=self._publish_report,
            high_water_seq=self._outbox.last_assigned_seq,
        )
        self._settings = self._remote.restore()
        self._sounds = SoundsToIgnore.open(
            parts.sound_memory_path,
            parts.live.fingerprint_model if parts.live is not None else None,
            on_changed=self._publish_status,
        )
        self._watch = IgnoredEpisodeWatch(parts.live, self._sounds.rule)
        if parts.live is not None:
            parts.live.update_settings(self._settings)
        if parts.loud is not None:
            parts.loud.update_settings(self._settings)
        self._connection = DeviceConnection(
            parts.device_id,
            parts.broker,
            parts.outbox,
            status=self._reporter.status,
            on_desired_config=self._remote.handle,
            on_ignore_list=self._sounds.handle,
            backoff=parts.backoff,
            max_in_flight=parts.max_in_flight,
        )

    @property
    def connection(self) -> DeviceConnection:
        return self._connection

    def request_stop(self) -> None:
        """Safe from a signal handler: only sets events."""
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """Run until ``request_stop``; returns after a clean shutdown."""
        parts = self._parts
        if parts.state_dir is not None:
            # Created by the daemon's user, so it can delete what root's CLI drops in it.
            (parts.state_dir / REQUESTS_DIR).mkdir(parents=True, exist_ok=True)
        parts.clock.poll()  # before connecting, so the first status already tells
        self._close_interrupted_episode()
        self._connection.start()
        self._remote.report_current()
        if parts.sampler is not None:
            self._spawn("sensor", self._sensor_loop)
        if parts.audio is not None and parts.live is not None:
            self._spawn("audio", self._audio_loop)
        if parts.detector_fault is not None:
            # Once per start: the fault stays in every status, the log need not repeat it.
            logger.warning("cry model degraded, still listening: %s", parts.detector_fault)
        parts.notifier.ready(f"device {parts.device_id} running")
        logger.info("edge agent for %s running", parts.device_id)
        try:
            self._main_loop()
        finally:
            self._shutdown()

    def _close_interrupted_episode(self) -> None:
        """End the cry episode a power cut or crash left open, at the last time the device knew
        it was alive, so it does not stay open forever in the parents' history."""
        interrupted = self._outbox.open_episode()
        if interrupted is None:
            return
        ended_at = max(interrupted.alive_at, interrupted.started_at)
        ended = self._outbox.append(
            lambda seq: Event(
                device_id=self._parts.device_id,
                seq=seq,
                ts=ended_at,
                kind="cry_ended",
                episode_id=interrupted.episode_id,
                confidence=min(max(interrupted.confidence, 0.0), 1.0),
                sound_dbfs=interrupted.sound_dbfs,
                # Capped to the contract's bound: a payload it refuses would stop every start.
                duration_s=min(
                    round((ended_at - interrupted.started_at).total_seconds(), 1), MAX_DURATION_S
                ),
                end_reason=RESTARTED,
            ),
            episode="close",
        )
        self._last_event = {"kind": "cry_ended", "time": ended.ts.isoformat()}
        logger.warning(
            "the cry episode %d was still open when the device stopped (power cut or crash): "
            "closed at %s, the last time the device was known alive",
            interrupted.episode_id,
            ended.ts.isoformat(),
        )

    # ---- main loop: telemetry, heartbeat, watchdog ----

    def _main_loop(self) -> None:
        now = time.monotonic()
        next_telemetry = now + self._settings.telemetry_interval_s
        next_status = now + self._settings.status_interval_s
        watchdog_every = self._parts.notifier.watchdog_interval_s or 10.0
        next_watchdog = now
        next_local = now
        next_fault_check = now
        while not self._stop.is_set():
            now = time.monotonic()
            settings = self._settings
            # A shorter interval from the cloud takes effect now, not after the old one.
            next_telemetry = min(next_telemetry, now + settings.telemetry_interval_s)
            next_status = min(next_status, now + settings.status_interval_s)
            if now >= next_telemetry:
                self._send_telemetry()
                next_telemetry = now + settings.telemetry_interval_s
            if now >= next_status:
                self._connection.publish_state(self._reporter.status("online"))
                next_status = now + settings.status_interval_s
            if now >= next_watchdog:
                self._feed_watchdog()
                next_watchdog = now + watchdog_every
            if now >= next_local:
                self._serve_local_commands(now)
                next_local = now + REQUEST_POLL_INTERVAL_S
            if now >= next_fault_check:
                self._parts.clock.poll()  # asks the system only every few minutes
                if self._report_changed_faults(now):
                    next_status = now + settings.status_interval_s
                next_fault_check = now + FAULT_CHECK_INTERVAL_S
            wake_at = min(next_telemetry, next_status, next_watchdog, next_local, next_fault_check)
            self._wake.wait(max(0.0, wake_at - now))
            self._wake.clear()

    def _report_changed_faults(self, now: float) -> bool:
        """Publish a status now if the faults differ from the last check's (rate-limited)."""
        faults = list(self._faults())
        if faults == self._reported_faults or now < self._next_fault_status:
            return False
        logger.info("faults now: %s", ", ".join(faults) or "none")
        self._reported_faults = faults
        self._next_fault_status = now + FAULT_STATUS_MIN_GAP_S
        self._connection.publish_state(self._reporter.status("online"))
        return True

    def _send_telemetry(self) -> None:
        parts = self._parts
        reading = parts.sampler.current() if parts.sampler is not None else None
        level = parts.meter.take() if parts.meter is not None else None
        if reading is None and level is None:
            logger.debug("nothing to report: no valid climate reading and no audio")
            return
        interval = self._settings.telemetry_interval_s
        sent = self._outbox.append(
            lambda seq: Telemetry(
                device_id=parts.device_id,
                seq=seq,
                ts=datetime.now(UTC),
                temperature_c=reading.temperature_c if reading else None,
                humidity_pct=reading.humidity_pct if reading else None,
                sound_dbfs_avg=min(level.avg_dbfs, 0.0) if level else None,
                sound_dbfs_max=min(level.max_dbfs, 0.0) if level else None,
                interval_s=interval,
            )
        )
        self.telemetry_sent += 1
        self._last_reading = {
            "seq": sent.seq,
            "time": sent.ts.isoformat(),
            "temperature_c": sent.temperature_c,
            "humidity_pct": sent.humidity_pct,
            "sound_dbfs_avg": sent.sound_dbfs_avg,
        }

    # ---- local commands: `nursery-edge status` and `nursery-edge test-alert` ----

    def _serve_local_commands(self, now: float) -> None:
        state_dir = self._parts.state_dir
        if state_dir is None:
            return
        request_id = None
        try:
            request_id = take_test_alert_request(state_dir)
            if request_id is not None:
                self._send_test_alert(request_id)
        except OSError as exc:
            # An unreadable request must not also stop the status from being written.
            logger.warning("cannot take a request from %s: %s", state_dir, exc)
        try:
            if now >= self._next_status_write or request_id is not None:
                write_status(state_dir, self.local_status())
                self._next_status_write = now + STATUS_WRITE_INTERVAL_S
            elif self._test_alert is not None and not self._test_alert["acknowledged"]:
                # The installer is waiting for the broker's acknowledgement: tell them soon.
                write_status(state_dir, self.local_status())
        except OSError as exc:
            logger.warning("cannot update the local status in %s: %s", state_dir, exc)

    def _send_test_alert(self, request_id: str) -> None:
        parts = self._parts
        event = self._outbox.append(
            lambda seq: Event(
                device_id=parts.device_id,
                seq=seq,
                ts=datetime.now(UTC),
                kind="test",
                episode_id=seq,
                confidence=1.0,
            )
        )
        logger.info("test alert queued (seq %d, request %s)", event.seq, request_id)
        self._test_alert = {
            "request_id": request_id,
            "seq": event.seq,
            "time": event.ts.isoformat(),
            "acknowledged": False,
        }

    def local_status(self) -> dict[str, object]:
        """The document ``nursery-edge status`` shows (also written to ``status.json``)."""
        parts = self._parts
        health = self._health()
        connection = self._connection.stats()
        if self._test_alert is not None and not self._test_alert["acknowledged"]:
            seq = int(str(self._test_alert["seq"]))
            self._test_alert["acknowledged"] = not self._outbox.contains(seq)
        now = datetime.now(UTC)
        return {
            "pid": os.getpid(),
            "device_id": parts.device_id,
            "updated_at": now.isoformat(),
            "updated_at_epoch": now.timestamp(),
            "started_at": self._started_at.isoformat(),
            "firmware_version": parts.firmware_version,
            "model_version": parts.model_version,
            "detector_mode": parts.detector_mode,
            "broker": f"{parts.broker.host}:{parts.broker.port}",
            "broker_username": parts.broker.username,
            "connected": connection.connected,
            "sessions": connection.sessions,
            "acknowledged": connection.acknowledged,
            "last_error": connection.last_error,
            "outbox_depth": health.outbox_depth,
            "dropped_telemetry": health.dropped_telemetry,
            "sensor_failures": health.sensor_failures,
            "audio_overflows": health.audio_overflows,
            "audio_errors": health.audio_errors,
            "faults": health.faults,
            "fault_details": health.fault_details,
            "settings": self._settings.model_dump(),
            "last_reading": self._last_reading,
            "last_event": self._last_event,
            "test_alert": self._test_alert,
            "ignore_list": self._sounds.local_status(),
        }

    def _feed_watchdog(self) -> None:
        beats = list(self._heartbeats.items())  # a copy: other threads add and remove entries
        stuck = [name for name, at in beats if time.monotonic() - at > STUCK_AFTER_S]
        if time.monotonic() - self._connection.last_loop_at > STUCK_AFTER_S:
            stuck.append("mqtt")
        if stuck:
            logger.error("threads not responding: %s; withholding the watchdog ping", stuck)
            return
        self._parts.notifier.watchdog()

    # ---- sensor thread ----

    def _sensor_loop(self) -> None:
        sampler = self._parts.sampler
        assert sampler is not None
        while not self._stop.is_set():
            self._heartbeats["sensor"] = time.monotonic()
            sampler.sample()
            self._wait_alive("sensor", self._parts.sensor_interval_s)

    # ---- audio thread ----

    def _audio_loop(self) -> None:
        audio, live = self._parts.audio, self._parts.live
        loud, microphone = self._parts.loud, self._parts.microphone
        assert audio is not None
        assert live is not None
        started = False
        while not self._stop.is_set():
            self._heartbeats["audio"] = time.monotonic()
            try:
                if not started:
                    audio.start()
                    started = True
                    self._last_audio_at = time.monotonic()
                    if microphone is not None:
                        microphone.reset()
                chunk = audio.read(0.5)
            except AudioSourceError as exc:
                # Unplugged or busy microphone: report the fault, keep the climate going, retry.
                self._audio_errors += 1
                logger.error("audio input failed: %s; retrying in %.0f s", exc, AUDIO_RETRY_S)
                audio.close()
                started = False
                self._wait_alive("audio", AUDIO_RETRY_S)
                continue
            if chunk is None:
                if audio.exhausted:
                    logger.info("audio source finished")
                    break
                continue
            self._last_audio_at = time.monotonic()
            self._emit(live.process(chunk.samples))
            self._emit(self._watch.promotion())  # an ignored episode that became a cry
            self._note_alive_in_episode()
            if loud is not None:
                self._emit(loud.process(chunk.samples))
            if microphone is not None:
                microphone.add(chunk.samples)
        self._emit(live.finish())
        self._heartbeats.pop("audio", None)
        audio.close()

    def _ignore_rule(self) -> IgnoreRule:
        """The "not a cry" rule at the cry sensitivity in use (LiveDetector.ignore_rule)."""
        live = self._parts.live
        return self._sounds.rule if live is None else live.ignore_rule(self._sounds.rule)

    def _note_alive_in_episode(self) -> None:
        now = time.monotonic()
        if self._episode_id is None or now - self._episode_alive_noted < EPISODE_ALIVE_EVERY_S:
            return
        self._episode_alive_noted = now
        self._outbox.note_alive(datetime.now(UTC))

    def _emit(self, events: Sequence[TimedCryEvent | TimedLoudSound]) -> None:
        for timed in events:
            if isinstance(timed, TimedLoudSound):
                loud = self._outbox.append(partial(self._loud_event, timed))
                self._last_event = {"kind": "loud_sound", "time": loud.ts.isoformat()}
            elif timed.event.kind == "cry_started":
                ignored = ignored_because(self._sounds.check(timed.event, self._ignore_rule()))
                started = self._outbox.append(
                    partial(self._event, timed, None, ignored=ignored), episode="open"
                )
                self._sounds.remember(started.seq, timed.event, timed.occurred_at)
                self._watch.started(timed, ignored is not None)
                self._episode_id = started.seq
                self._episode_alive_noted = time.monotonic()
                self._last_event = {"kind": "cry_started", "time": started.ts.isoformat()}
                if ignored is None:
                    logger.info("cry started (confidence %.2f)", timed.event.confidence)
                else:
                    log_not_alerted(ignored, timed.event.confidence)
            elif self._episode_id is not None:
                timed = self._watch.ended(timed)
                self._sounds.remember(self._episode_id, timed.event, timed.occurred_at)
                ended = self._outbox.append(
                    partial(self._event, timed, self._episode_id), episode="close"
                )
                self._episode_id = None
                self._last_event = {"kind": "cry_ended", "time": ended.ts.isoformat()}
                logger.info("cry ended after %.1f s", timed.event.duration_s or 0.0)

    def _event(
        self,
        timed: TimedCryEvent,
        episode_id: int | None,
        seq: int,
        ignored: IgnoredBecause | None = None,
    ) -> Event:
        """The payload of one event; a start is its own episode's id. ``ignored``: a start
        that sounded like a marked "not a cry" (still sent: the app shows it, no alarm)."""
        event = timed.event
        temperature_c, humidity_pct = self._room()
        return Event(
            device_id=self._parts.device_id,
            seq=seq,
            ts=timed.occurred_at,
            kind=event.kind,
            episode_id=seq if episode_id is None else episode_id,
            confidence=min(max(event.confidence, 0.0), 1.0),
            sound_dbfs=min(max(event.level_dbfs, -200.0), 0.0),
            duration_s=event.duration_s,
            temperature_c=temperature_c,
            humidity_pct=humidity_pct,
            heard=heard_for_event(event.heard),
            end_reason=timed.end_reason,
            ignored=ignored,
        )

    def _room(self) -> tuple[float | None, float | None]:
        """The latest valid climate reading for an event (the sampler forgets one older than
        its ``max_age_s``, so a stale room is absent rather than shown as current)."""
        sampler = self._parts.sampler
        reading = sampler.current() if sampler is not None else None
        if reading is None:
            return None, None
        return reading.temperature_c, reading.humidity_pct

    def _loud_event(self, timed: TimedLoudSound, seq: int) -> Event:
        """A loud sound is an episode of its own: its id is its own seq."""
        sound = timed.sound
        temperature_c, humidity_pct = self._room()
        return Event(
            device_id=self._parts.device_id,
            seq=seq,
            ts=timed.occurred_at,
            kind="loud_sound",
            episode_id=seq,
            # Not a model's opinion: the level was measured above the threshold.
            confidence=1.0,
            sound_dbfs=min(max(sound.level_dbfs, -200.0), 0.0),
            duration_s=round(sound.duration_s, 1),
            temperature_c=temperature_c,
            humidity_pct=humidity_pct,
        )

    # ---- settings, health, shutdown ----

    def _publish_status(self) -> None:
        # A new "not a cry" list was applied (MQTT thread): the app shows it at once.
        self._connection.publish_state(self._reporter.status("online"))

    def _publish_report(self, report: ReportedConfig) -> None:
        # Called once the connection exists (RemoteConfig reports only after start-up).
        self._connection.publish_state(report)

    def _apply_settings(self, settings: DeviceSettings) -> None:
        self._settings = settings
        if self._parts.live is not None:
            self._parts.live.update_settings(settings)
        if self._parts.loud is not None:
            self._parts.loud.update_settings(settings)
        self._wake.set()

    def _health(self) -> HealthSnapshot:
        parts = self._parts
        sensor_failures = audio_overflows = 0
        if parts.sampler is not None:
            stats = parts.sampler.stats()
            sensor_failures = stats.failures + stats.rejected
        if parts.audio is not None:
            audio_overflows = parts.audio.stats().overflows
        faults = self._faults()
        return HealthSnapshot(
            outbox_depth=self._outbox.depth,
            dropped_telemetry=self._outbox.dropped_telemetry(),
            sensor_failures=sensor_failures,
            audio_overflows=audio_overflows,
            audio_errors=self._audio_errors,
            faults=list(faults),
            fault_details=faults,
            ignore_list=self._sounds.status(),
        )

    def _faults(self) -> dict[str, str]:
        """What is wrong now (the contract's fault names), each with what the device saw."""
        parts = self._parts
        faults: dict[str, str] = {}
        if parts.sampler is not None:
            stats = parts.sampler.stats()
            if stats.faulty:
                faults["sensor"] = (
                    f"the last {stats.consecutive_failures} reads failed or were implausible"
                )
            if stats.stuck is not None:
                reading = stats.stuck.reading
                faults["sensor_stuck"] = (
                    f"every read for {_duration(stats.stuck.for_s)} was exactly "
                    f"{reading.temperature_c} °C and {reading.humidity_pct} % RH"
                )
        if parts.audio is not None:
            silent_for = time.monotonic() - self._last_audio_at
            if not parts.audio.exhausted and silent_for > AUDIO_SILENT_FAULT_S:
                faults["microphone"] = f"no audio from the input for {_duration(silent_for)}"
        if parts.microphone is not None and (problem := parts.microphone.problem) is not None:
            faults["microphone_dead"] = problem
        if parts.detector_fault is not None:
            faults["cry_model_degraded"] = parts.detector_fault
        if parts.clock.problem is not None:
            faults["clock"] = parts.clock.problem
        if self._sounds.fault is not None:
            faults["sound_memory"] = self._sounds.fault[:FAULT_DETAIL_MAX]
        if self._outbox.depth >= self._outbox.max_messages:
            faults["outbox_full"] = (
                f"{self._outbox.depth} messages waiting, the most it keeps: the oldest "
                "readings are dropped"
            )
        return faults

    def _wait_alive(self, name: str, seconds: float) -> None:
        """Sleep without looking stuck to the watchdog: refresh the heartbeat every few s."""
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            self._heartbeats[name] = time.monotonic()
            self._stop.wait(min(remaining, ALIVE_SLICE_S))

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                target()
            except Exception:
                # The watchdog notices the missing heartbeat and systemd restarts us.
                logger.exception("%s thread failed", name)

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        self._heartbeats[name] = time.monotonic()
        thread.start()
        self._threads.append(thread)

    def _shutdown(self) -> None:
        parts = self._parts
        parts.notifier.stopping()
        logger.info(
            "stopping: finishing audio, flushing the outbox (%d message(s))", self._outbox.depth
        )
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5.0)
        self._connection.stop(parts.flush_timeout_s)
        self._write_last_status()
        if parts.sampler is not None:
            parts.sampler.close()
        self._outbox.close()
        self._sounds.close()
        logger.info("stopped")

    def _write_last_status(self) -> None:
        """Tell ``nursery-edge status`` the agent stopped, rather than leave "connected" behind."""
        state_dir = self._parts.state_dir
        if state_dir is None:
            return
        document = self.local_status()
        document["connected"] = False
        document["stopped_at"] = datetime.now(UTC).isoformat()
        try:
            write_status(state_dir, document)
        except OSError as exc:
            logger.warning("cannot write the last status in %s: %s", state_dir, exc)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
