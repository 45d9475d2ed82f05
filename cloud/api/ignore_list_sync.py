"""Keeping each device's retained "not a cry" list (``ignore/desired``) at the stored revision.

The stored list is the truth; the broker's retained copy follows it. Two ways:

- the fast path: a route that changed a list (or claimed or unclaimed a device) sends it right
  away (``send_ignore_list``);
- the sync: ``IgnoreListSync.run`` asks storage every ``SYNC_INTERVAL_S`` seconds, while the
  publisher is connected, for the lists changed since they were last handed to the broker and
  sends them. That covers every change the fast path misses: one made while the broker was away
  and this process restarted before it came back (its queue was in memory), one made without
  the API (the operator's ``nursery-cloud device register --owner`` empties a list and publishes
  nothing), one whose process stopped between its commit and its publish, and one the broker
  lost after it was handed over (the device's online status names an older revision, and the
  collector marks the list unsent again: not_a_cry_plan.log_device_behind).

Either way a list is noted as published (``Storage.note_ignore_list_published``) once handed
over. Several API processes each run the sync, so a list may be sent more than once: harmless,
the device applies only a revision newer than the one it holds.
"""

from __future__ import annotations

import asyncio
import logging

from cloud.api.device_config import Delivery, DesiredConfigPublisher
from cloud.storage import Storage
from cloud.storage.records import IgnoreListState

logger = logging.getLogger(__name__)

SYNC_INTERVAL_S = 3.0
# Lists per storage read; a longer backlog (the first start after the upgrade: every list
# with a revision is sent once) is read in further batches without waiting.
SYNC_BATCH = 200
# Rounds of "the list changed again while it was being sent" before leaving the newest to
# whoever changed it (it sends it too).
RESEND_ROUNDS = 3


async def publish_and_note(
    storage: Storage, publisher: DesiredConfigPublisher, state: IgnoreListState
) -> bool:
    """Hand ``state`` to the broker and note its revision as published; False when the
    publisher queued it instead (the broker is away: the sync sends it once it is back)."""
    for _ in range(RESEND_ROUNDS):
        if not publisher.publish_ignore_list(state):
            return False
        # gmqtt's publish does not wait for the broker's PUBACK: it writes the message to the
        # connection and keeps it to resend (QoS 1) when this process reconnects. So the note
        # says "handed over": a message the broker never read - this process died in that
        # instant, or the broker did and this process stopped before reconnecting - is sent
        # again once the device's next online status names the older revision it holds (the
        # collector then marks the list unsent).
        await storage.note_ignore_list_published(state.device_id, state.revision)
        # Another process may have changed the list after it was read here and sent the newer
        # one before this older one reached the broker, which would then keep this one under
        # a newer note. Reading it back closes that: whatever changed since is sent after this
        # message (this publisher drops a revision older than one it sent). Devices are never
        # deleted, so it is still there.
        latest = await storage.ignore_list_for_device(state.device_id)
        if latest.revision <= state.revision:
            return True
        state = latest
    return True


async def send_ignore_list(
    storage: Storage, publisher: DesiredConfigPublisher | None, device_id: str
) -> Delivery:
    """Publish the device's whole ignore list as stored now (retained). Read after the write
    that changed it, so the newest of concurrent changes - from any API process - is what the
    device keeps."""
    if publisher is None:
        return "not_configured"
    state = await storage.ignore_list_for_device(device_id)
    return "sent" if await publish_and_note(storage, publisher, state) else "queued"


async def send_ignore_list_after_commit(
    storage: Storage, publisher: DesiredConfigPublisher | None, device_id: str
) -> None:
    """``send_ignore_list`` after a change that is already committed (a claim, an unclaim): a
    failure to send is logged, not raised, so the request that made the change does not fail
    after it took effect (a claim code is used up and could not be tried again); the sync sends
    the list within seconds."""
    try:
        await send_ignore_list(storage, publisher, device_id)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("sending %s its ignore list failed; the sync sends it", device_id)


class IgnoreListSync:
    def __init__(self, storage: Storage, publisher: DesiredConfigPublisher) -> None:
        self._storage = storage
        self._publisher = publisher

    async def run(self) -> None:
        """Send unpublished lists every ``SYNC_INTERVAL_S`` until cancelled."""
        while True:
            await asyncio.sleep(SYNC_INTERVAL_S)
            if not self._publisher.connected:
                continue
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("sending unpublished ignore lists failed; trying again")

    async def sync(self) -> int:
        """Send every list changed since it was last handed to the broker; how many were.

        A list that cannot be sent (one the contract refuses, a storage error on its note) is
        logged and skipped, so the lists after it in device order still go out; it is tried
        again next round, and this round ends after its batch rather than read it again."""
        sent = 0
        while True:
            states = await self._storage.unpublished_ignore_lists(SYNC_BATCH)
            failed = False
            for state in states:
                try:
                    handed_over = await publish_and_note(self._storage, self._publisher, state)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception(
                        "sending %s its ignore list revision %s failed; the others go on",
                        state.device_id, state.revision,
                    )  # fmt: skip
                    failed = True
                    continue
                if not handed_over:
                    # The broker went away meanwhile: the rest waits for the next round.
                    return sent
                sent += 1
                logger.info(
                    "sent %s its ignore list revision %d, not noted as sent before",
                    state.device_id,
                    state.revision,
                )
            if failed or len(states) < SYNC_BATCH:
                return sent
