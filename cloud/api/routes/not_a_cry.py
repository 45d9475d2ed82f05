"""'Not a cry': caregivers mark a monitor's cry alert as a sound it should not alert on.

The cloud keeps the marks (episode ids and dates only) and sends the device its whole list,
retained on ``ignore/desired``, after every change; the device compares later episodes with the
sounds it remembers of the marked ones (docs/api.md, "Not a cry"). Any member of the device may
mark, undo and clear - whoever is up at night with the baby. Anything the caller cannot see is
404, like every other route.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status

from cloud.api.deps import AUTH_RESPONSES, AppServices, CurrentUser, ServicesDep
from cloud.api.ignore_list_sync import send_ignore_list
from cloud.api.not_a_cry_schemas import IgnoreListChanged, IgnoreListRead
from cloud.api.routes.devices import NOT_FOUND, NOT_MEMBER, DeviceId
from cloud.rules import AlertKind
from cloud.storage import AmbiguousEpisodeError, NotFoundError
from cloud.storage.records import IgnoreListState, StoredAlert
from models.contract.payloads import MAX_SEQ

router = APIRouter(tags=["not a cry"], responses=AUTH_RESPONSES)

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]
# An episode's id is the device's own number for its cry_started: a message sequence number,
# which starts at 0.
EpisodeId = Annotated[int, Path(ge=0, le=MAX_SEQ)]

ALERT_NOT_FOUND = HTTPException(status.HTTP_404_NOT_FOUND, "Alert not found")
ALERT_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such alert visible to the caller"},
    409: {
        "description": "the alert cannot be marked: not a monitor's cry alert with an "
        "episode (an app upload, another kind, an alert from before episodes could be "
        "marked), one the monitor already ignored, or one whose episode number the monitor "
        "used for more than one cry (its memory was reset)"
    },
}


class NotMarkableError(ValueError):
    """Why an alert has no episode a caregiver could mark "not a cry" (shown as it is)."""


def marked_episode(alert: StoredAlert) -> tuple[str, int]:
    """The device and episode a "not a cry" on ``alert`` is about; NotMarkableError saying why
    there is none."""
    if alert.kind == AlertKind.CRY_IGNORED:
        like = alert.details.get("ignored")
        like_id = like.get("like_episode_id") if isinstance(like, dict) else None
        hint = "" if like_id is None else f" (it sounded like episode {like_id}, marked earlier)"
        raise NotMarkableError(
            f"Already ignored: the monitor did not alert on this sound{hint}; to hear such "
            "sounds again, undo that mark"
        )
    if alert.device_id is None:
        raise NotMarkableError(
            "Only a monitor's cry alert can be marked not a cry: this one is an app upload's"
        )
    if alert.kind != AlertKind.CRY_DETECTED:
        raise NotMarkableError(
            f"Only a monitor's cry alert can be marked not a cry: this one is {alert.kind}"
        )
    episode = alert.details.get("episode_id")
    # bool is an int to Python, never an episode.
    if type(episode) is not int or not 0 <= episode <= MAX_SEQ:
        raise NotMarkableError(
            "This cry alert names no episode (it was raised before episodes could be marked), "
            "so the monitor could not tell which sound to ignore"
        )
    return alert.device_id, episode


async def _visible_alert(services: AppServices, user_id: int, alert_id: int) -> StoredAlert:
    # The storage's one visibility rule for an alert (member of its device in the claim period
    # it was raised in, or its uploader) answers for its history; the alert itself is read
    # after it, by id.
    if await services.storage.list_alert_transitions(user_id, alert_id) is None:
        raise ALERT_NOT_FOUND
    alert = await services.storage.get_alert(alert_id)
    if alert is None:
        raise ALERT_NOT_FOUND
    return alert


async def _changed(services: AppServices, state: IgnoreListState) -> IgnoreListChanged:
    delivery = await send_ignore_list(services.storage, services.config_publisher, state.device_id)
    read = IgnoreListRead.model_validate(state)
    return IgnoreListChanged.model_validate({**read.model_dump(), "delivery": delivery})


async def _alert_episode(services: AppServices, user_id: int, alert_id: int) -> tuple[str, int]:
    alert = await _visible_alert(services, user_id, alert_id)
    try:
        return marked_episode(alert)
    except NotMarkableError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.post(
    "/alerts/{alert_id}/not-a-cry", response_model=IgnoreListChanged, responses=ALERT_RESPONSES
)
async def mark(alert_id: AlertId, user: CurrentUser, services: ServicesDep) -> IgnoreListChanged:
    """The sound behind this cry alert was not the baby: the monitor ignores episodes that
    sound like it from now on (unless their cry score is so high it must still alert). Marking
    it again changes nothing. Answers the nursery's whole list."""
    device_id, episode_id = await _alert_episode(services, user.id, alert_id)
    try:
        state = await services.storage.mark_not_a_cry(
            user.id, device_id, episode_id, datetime.now(UTC)
        )
    except NotFoundError:
        raise ALERT_NOT_FOUND from None
    except AmbiguousEpisodeError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return await _changed(services, state)


@router.delete(
    "/alerts/{alert_id}/not-a-cry", response_model=IgnoreListChanged, responses=ALERT_RESPONSES
)
async def unmark(alert_id: AlertId, user: CurrentUser, services: ServicesDep) -> IgnoreListChanged:
    """Undo this alert's mark (nothing changes if it is not marked)."""
    device_id, episode_id = await _alert_episode(services, user.id, alert_id)
    try:
        state = await services.storage.unmark_not_a_cry(
            user.id, device_id, episode_id, one_episode=True
        )
    except NotFoundError:
        raise ALERT_NOT_FOUND from None
    except AmbiguousEpisodeError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return await _changed(services, state)


@router.get(
    "/devices/{device_id}/ignored-sounds", response_model=IgnoreListRead, responses=NOT_MEMBER
)
async def ignored_sounds(
    device_id: DeviceId, user: CurrentUser, services: ServicesDep
) -> IgnoreListRead:
    """The sounds this nursery's monitor is told to ignore, newest first, and what the monitor
    last reported of its list."""
    try:
        state = await services.storage.get_ignore_list(user.id, device_id)
    except NotFoundError:
        raise NOT_FOUND from None
    return IgnoreListRead.model_validate(state)


@router.delete(
    "/devices/{device_id}/ignored-sounds/{episode_id}",
    response_model=IgnoreListChanged,
    responses=NOT_MEMBER,
)
async def forget_sound(
    device_id: DeviceId, episode_id: EpisodeId, user: CurrentUser, services: ServicesDep
) -> IgnoreListChanged:
    """Undo one mark, e.g. from an ignored episode (its ``ignored.like_episode_id``); nothing
    changes if that episode is not marked."""
    try:
        state = await services.storage.unmark_not_a_cry(user.id, device_id, episode_id)
    except NotFoundError:
        raise NOT_FOUND from None
    return await _changed(services, state)


@router.delete(
    "/devices/{device_id}/ignored-sounds", response_model=IgnoreListChanged, responses=NOT_MEMBER
)
async def clear(device_id: DeviceId, user: CurrentUser, services: ServicesDep) -> IgnoreListChanged:
    """Forget every mark: the monitor alerts on every cry again."""
    try:
        state = await services.storage.clear_ignore_list(user.id, device_id)
    except NotFoundError:
        raise NOT_FOUND from None
    return await _changed(services, state)
