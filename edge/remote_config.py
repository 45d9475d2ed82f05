"""Remote configuration: the cloud's desired settings, validated, applied live, kept, reported.

A desired config names the settings the parents changed; the device runs with its local config
file's ``[settings]`` overlaid by the latest accepted revision. Each revision is applied once
(the broker redelivers the retained message on every reconnect), persisted so that a reboot
comes back with the parents' settings before the broker is reachable, and answered with a
reported config: what the device now runs with, or the refusal naming the offending key.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from models.contract import (
    ContractError,
    DesiredConfig,
    DeviceSettings,
    ReportedConfig,
)

logger = logging.getLogger(__name__)

NO_REVISION = -1


class RemoteConfig:
    def __init__(
        self,
        device_id: str,
        local: DeviceSettings,
        state_path: Path,
        apply: Callable[[DeviceSettings], None],
        report: Callable[[ReportedConfig], None],
        high_water_seq: Callable[[], int],
    ) -> None:
        self._device_id = device_id
        self._local = local
        self._state_path = state_path
        self._apply = apply
        self._report = report
        self._high_water_seq = high_water_seq
        self._lock = threading.Lock()
        self._revision = NO_REVISION
        self._overrides: dict[str, object] = {}
        self._current = local
        self._last_report: ReportedConfig | None = None

    @property
    def current(self) -> DeviceSettings:
        return self._current

    @property
    def revision(self) -> int:
        return self._revision

    def restore(self) -> DeviceSettings:
        """Settings to start with: the local file plus the last accepted remote revision.

        A stored revision that no longer validates against the local file (the file changed)
        is dropped with a warning rather than stopping the daemon.
        """
        try:
            stored = json.loads(self._state_path.read_text())
            revision, overrides = int(stored["revision"]), dict(stored["overrides"])
            self._current = self._local.merged(overrides)
        except FileNotFoundError:
            return self._current
        except (ValueError, KeyError, TypeError, ContractError) as exc:
            logger.warning("ignoring stored remote settings in %s: %s", self._state_path, exc)
            return self._current
        self._revision, self._overrides = revision, overrides
        logger.info("restored remote settings revision %d", revision)
        return self._current

    def report_current(self) -> None:
        """Publish what the device runs with (at start-up, before any new revision arrives)."""
        with self._lock:  # handle() may be applying a newer revision on the MQTT thread
            if self._revision != NO_REVISION:
                self._send_report(self._revision, accepted=True, error=None)

    def handle(self, desired: DesiredConfig) -> None:
        """Apply one desired config (called on the MQTT thread)."""
        with self._lock:
            if desired.seq == self._revision:
                return  # the retained copy, redelivered after a reconnect
            if desired.seq < self._revision:
                logger.warning(
                    "ignoring desired config revision %d: already at %d",
                    desired.seq,
                    self._revision,
                )
                return
            try:
                settings = self._local.merged(desired.settings)
            except ContractError as exc:
                logger.error("rejected desired config revision %d: %s", desired.seq, exc)
                self._send_report(desired.seq, accepted=False, error=str(exc))
                return
            changed = settings.changed_from(self._current)
            self._persist(desired.seq, dict(desired.settings))
            self._revision, self._overrides, self._current = (
                desired.seq,
                dict(desired.settings),
                settings,
            )
            self._apply(settings)
            logger.info("applied desired config revision %d: %s", desired.seq, changed or "same")
            self._send_report(desired.seq, accepted=True, error=None)

    def _send_report(self, revision: int, accepted: bool, error: str | None) -> None:
        report = ReportedConfig(
            device_id=self._device_id,
            seq=max(self._high_water_seq(), 0),
            ts=datetime.now(UTC),
            revision=revision,
            accepted=accepted,
            settings=self._current.model_dump(),
            error=error,
        )
        self._last_report = report
        self._report(report)

    def _persist(self, revision: int, overrides: dict[str, object]) -> None:
        # Write-then-rename (with fsync) so a power cut leaves either the old or the new file.
        temporary = self._state_path.with_suffix(".tmp")
        temporary.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "w") as file:
            json.dump({"revision": revision, "overrides": overrides}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self._state_path)
