"""The rule state a collector process committed last, reused while nobody else changed it.

Every batch needs the rule state of its devices (``cloud.alerting.DeviceRules``). Reading and
decoding a JSON document per device per batch was a quarter of the collector with a thousand
devices per batch (docs/performance.md). Each stored state carries a revision, drawn from a
database sequence on every write, so a revision is never reused - not even when a device is
deleted and registered again. A process keeps the states it committed, by revision; loading
asks the database only for the revisions and fetches the document of a device whose revision
moved (another collector of a shared-subscription group wrote it, or this process never did).

Entries are recorded only after the transaction that wrote them commits: a rolled-back batch
leaves the old entry, whose revision no longer matches once anything newer is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cloud.alerting import DeviceRules
from cloud.rules import NurserySettings

# Beyond this many devices the cache starts over (about 1 KB each); a collector serving more
# devices than that reads some states again, as it did before there was a cache.
MAX_DEVICES = 200_000
UNKNOWN_REVISION = -1


@dataclass(frozen=True, slots=True)
class CommittedRules:
    """What a batch wrote, to record once its transaction has committed."""

    revisions: Mapping[str, int]
    rules: Mapping[str, DeviceRules]


class RuleStateCache:
    def __init__(self, max_devices: int = MAX_DEVICES) -> None:
        self._max_devices = max_devices
        self._entries: dict[str, tuple[int, DeviceRules]] = {}

    def revision(self, device_id: str) -> int:
        """The revision this process committed for ``device_id``, or ``UNKNOWN_REVISION``."""
        entry = self._entries.get(device_id)
        return UNKNOWN_REVISION if entry is None else entry[0]

    def rules(self, device_id: str, settings: NurserySettings) -> DeviceRules:
        """A copy of the committed state with the device's current settings: the caller
        updates it in place, and the cache must keep what was committed."""
        return _copy(self._entries[device_id][1], settings)

    def record(self, committed: CommittedRules) -> None:
        if len(self._entries) + len(committed.revisions) > self._max_devices:
            self._entries.clear()
        for device_id, revision in committed.revisions.items():
            # Overlapping batches may finish recording out of order; the sequence makes the
            # higher revision the later write.
            if self.revision(device_id) < revision:
                self._entries[device_id] = (revision, _copy(committed.rules[device_id], None))

    def __len__(self) -> int:
        return len(self._entries)


def _copy(rules: DeviceRules, settings: NurserySettings | None) -> DeviceRules:
    # The states inside are frozen dataclasses and datetimes; only the containers are shared.
    return DeviceRules(
        settings if settings is not None else rules.settings,
        dict(rules.climate),
        rules.presence,
        dict(rules.last_alarm),
        list(rules.faults),
    )
