"""The backend-independent part of the "not a cry" list (issue 31), decided alike by both
backends: how an ignored event is stored, which marks the device is sent, and what the device
reported of its list.

The cloud keeps the marks (``not_a_cry_marks``: device, episode id, who, when) and the list's
revision (``devices.ignore_list_revision``); the device keeps the fingerprints. The device's side
comes from its latest status (``Status.ignore_list_*``), which the collector stores among the
status details (``devices.status``), so nothing else needs storing for it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cloud.storage.interface import AmbiguousEpisodeError, NotFoundError
from cloud.storage.records import (
    EventRow,
    IgnoredEpisodeRow,
    IgnoreListState,
    NotACryMark,
    StatusRow,
)
from models.contract import MAX_IGNORE_MARKS
from models.contract.payloads import MAX_SEQ

logger = logging.getLogger(__name__)

# The marks kept per device: exactly the ones sent (the contract bounds the list). A mark
# beyond them is deleted, not kept aside: what the table holds is what the device is told.
MARKS_KEPT = MAX_IGNORE_MARKS
# Newest first; the episode id breaks ties (two marks in the same instant).
MARK_ORDER = "marked_at DESC, episode_id DESC"
# What a device's status says of its list (models.contract.Status), among the stored details.
IGNORE_LIST_FIELDS = (
    "ignore_list_size", "ignore_list_changed_at", "ignore_list_revision", "ignore_list_unknown",
)  # fmt: skip


def require_one_episode(episodes: int, episode_id: int) -> None:
    """A mark needs exactly one cry episode with its id in the device's current claim period.
    More than one: the device's state folder was wiped and its ids (its message numbers)
    started again, and the device remembers only the newest sound under the id - a mark of
    the older one would make it ignore a sound nobody marked. Refused rather than guessed;
    the marks are kept by episode id alone, as the device is sent them (the episodes query,
    postgres/devices.py, shows a mark on the first episode of the period with its id)."""
    if episodes == 0:
        raise NotFoundError("device", "no such cry episode of this device")
    refuse_ambiguous_episode(episodes, episode_id)


def refuse_ambiguous_episode(episodes: int, episode_id: int) -> None:
    """Undoing the mark *of one alert*: refused like marking when several episodes of the
    period have its id - the mark is on the first of them, and an undo from a later alert that
    reuses the number must not take it off (undo it from the list of sounds to ignore)."""
    if episodes > 1:
        raise AmbiguousEpisodeError(
            f"The monitor used episode number {episode_id} for {episodes} different cries (its"
            " memory was reset), so it cannot tell which of them to ignore"
        )


def devices_citing_marks(events: Sequence[EventRow]) -> list[str]:
    """The devices of ``events`` with a cry the device ignored: the only ones whose current
    marks the rules need (cloud.alerting.evaluate_batch), so most batches load none."""
    return sorted({event.device_id for event in events if event.ignored is not None})


def status_details_to_store(
    status: StatusRow, stored: Mapping[str, Any] | str | None
) -> dict[str, Any]:
    """The details to store for ``status`` over the stored ones (``devices.status``). An offline
    status keeps what the stored status said of the list: the broker's last will was built when
    the device connected, so its list fields are as old as that connection, and storing them
    would show an older revision (the dashboard's "waiting for the monitor") until the device
    is back."""
    if status.online or stored is None:
        return status.details
    previous = json.loads(stored) if isinstance(stored, str | bytes) else stored
    kept = {name: previous[name] for name in IGNORE_LIST_FIELDS if name in previous}
    return {**status.details, **kept} if kept else status.details


# The highest list revision a device may report and be overtaken (``revision_held_by_device``):
# room for 2**32 more changes below the contract's 64-bit bound.
MAX_OVERTAKEN_REVISION = MAX_SEQ - 2**32


def revision_held_by_device(status: StatusRow) -> int | None:
    """The list revision an online status says the device holds; None for an offline status
    (the last will's fields are as old as its connection) or one that reports none.

    Normally at most the server's own: the device only takes lists the server sent. A device
    that holds more applied a list from a server whose database has since been restored from an
    older backup (or from another deployment) and would refuse every list the server sends -
    undos and clears included - until the server's revision passed its own. The ingest then
    raises the server's revision to one above the device's (``OVERTAKE_DEVICE_REVISION``), so
    the server's list goes out as the newer one and replaces it."""
    if not status.online:
        return None
    revision = status.details.get("ignore_list_revision")
    # The contract validated the status: an int when present (bool is an int to Python too).
    if not isinstance(revision, int) or isinstance(revision, bool):
        return None
    if revision > MAX_OVERTAKEN_REVISION:
        # No server ever sent that many changes: a broken or forged status. Overtaking it would
        # leave the server's revision no room to count on (or overflow its column).
        logger.warning(
            "device %s reports 'not a cry' list revision %d, beyond any list this server"
            " sent; not taken into account", status.device_id, revision,
        )  # fmt: skip
        return None
    return revision


def log_device_overtaken(device_id: str, held: int) -> None:
    """Say that the ingest overtook a device's list revision (``revision_held_by_device``)."""
    logger.warning(
        "device %s holds 'not a cry' list revision %d, newer than this server's (a database"
        " restored from an older backup?): the server's list goes out as revision %d",
        device_id, held, held + 1,
    )  # fmt: skip


def log_device_behind(device_id: str, held: int) -> None:
    """Say that a device holds an older list than the one noted as handed to the broker, which
    is sent again: the broker lost it (a crash before its autosave, a replaced volume), or the
    status crossed the list on its way (then the device gets it twice and applies it once)."""
    logger.info(
        "device %s holds 'not a cry' list revision %d, older than the one handed to the"
        " broker: sending the list again", device_id, held,
    )  # fmt: skip


def ignored_json(ignored: IgnoredEpisodeRow | None) -> dict[str, object] | None:
    """The stored document of ``events.ignored``; None (NULL) for an event the device alerted
    on (or any other event)."""
    if ignored is None:
        return None
    return {
        "like_episode_id": ignored.like_episode_id,
        "marked_at": ignored.marked_at.isoformat(),
        "similarity": ignored.similarity,
    }


def ignored_text(ignored: IgnoredEpisodeRow | None) -> str | None:
    """The stored document as JSON text (SQLite)."""
    document = ignored_json(ignored)
    return None if document is None else json.dumps(document)


def ignored_from_stored(value: object) -> IgnoredEpisodeRow | None:
    """The column back: JSON text (SQLite), the parsed object (psycopg's JSONB) or NULL."""
    if value is None:
        return None
    document = json.loads(value) if isinstance(value, str | bytes) else value
    if not isinstance(document, dict):
        raise ValueError(f"stored ignored reason is not an object: {document!r}")
    return IgnoredEpisodeRow(
        like_episode_id=int(document["like_episode_id"]),
        marked_at=datetime.fromisoformat(str(document["marked_at"])),
        similarity=float(document["similarity"]),
    )


def ignore_list_state(
    device_id: str,
    revision: int,
    marks: Sequence[NotACryMark],
    status: Mapping[str, Any] | str | None,
) -> IgnoreListState:
    """The list as the API shows it: the cloud's marks (newest ``MARKS_KEPT``) and what the
    device's stored status (``devices.status``: JSON text or the parsed document) says of it.
    A status without the fields (older firmware, the broker's last will) reports nothing."""
    document = json.loads(status) if isinstance(status, str | bytes) else (status or {})
    size = document.get("ignore_list_size")
    changed_at = document.get("ignore_list_changed_at")
    device_revision = document.get("ignore_list_revision")
    unknown = document.get("ignore_list_unknown") or []
    return IgnoreListState(
        device_id=device_id,
        revision=revision,
        marks=list(marks[:MARKS_KEPT]),
        device_size=None if size is None else int(size),
        device_changed_at=None if changed_at is None else datetime.fromisoformat(changed_at),
        device_revision=None if device_revision is None else int(device_revision),
        device_unknown=[int(episode_id) for episode_id in unknown],
    )
