"""The storage interface every backend implements; callers depend on this, never on a driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Literal, Protocol

from cloud.storage.push_records import (
    DeliveryRecord,
    NewPushSubscription,
    PushClaim,
    PushDelivery,
    PushJob,
    PushResult,
    PushStatus,
    PushSubscription,
)
from cloud.storage.records import (
    AlertDelivery,
    AlertQuery,
    AlertTransition,
    AlertView,
    Caregiver,
    CryEpisode,
    DeadLetter,
    DeliveryStats,
    DeviceAudience,
    DeviceState,
    DeviceSummary,
    Gap,
    HealthRecord,
    HealthStats,
    HistoryQuery,
    IgnoreListState,
    IngestBatch,
    IngestResult,
    ProvisionedDevice,
    RefreshUse,
    StoredAlert,
    TelemetryRow,
    TimeBucket,
    UploadRow,
    User,
    UserCredentials,
    UserRole,
)


class StorageError(RuntimeError):
    """The database could not do what was asked (connection lost, constraint broken, ...)."""


class PermanentStorageError(StorageError):
    """The database refused the data itself (a data exception or a broken constraint): the
    same write fails the same way every time. Anything else - a lost connection, a
    serialization failure, a locked database - may pass when tried again."""


class DuplicateEmailError(StorageError):
    """An account with this e-mail address exists already."""


class NotFoundError(StorageError):
    """No such device or user visible to the caller: ``subject`` says which. A device the
    caller is not a member of is reported exactly as one that does not exist, so answers never
    tell whether a device exists for someone else."""

    def __init__(self, subject: Literal["device", "user"], message: str | None = None) -> None:
        super().__init__(message or f"no such {subject}")
        self.subject = subject


class AmbiguousEpisodeError(StorageError):
    """The device has used this episode id for more than one cry episode in the current claim
    period (its state folder was wiped and its message numbers started again): the device
    remembers only its newest sound under that id, so a mark could make it ignore a sound
    nobody marked. Marking it is refused."""


class AccessDeniedError(StorageError):
    """The caller can see the device but their role does not allow this (a caregiver renaming
    it, changing its settings, sharing it or removing another member; anyone removing the
    owner)."""


class ClaimCodeInUseError(StorageError):
    """Another device waits for a claim code with this hash; mint a new code."""


class DuplicateDeviceError(StorageError):
    """A device with this id exists already; mint another id."""


class Storage(Protocol):
    async def migrate(self) -> list[str]:
        """Apply pending schema migrations; returns the versions applied now (idempotent)."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the database answers a trivial query now (readiness probes)."""
        ...

    async def failed_background_jobs(self) -> list[str]:
        """The database's own scheduled jobs (TimescaleDB compression, retention, aggregate
        refresh) whose last run failed, one description each; none where there are none."""
        ...

    # --- accounts and devices ---
    async def create_user(
        self, email: str, password_hash: str, name: str | None, role: UserRole = "parent"
    ) -> User: ...

    async def set_user_role(self, email: str, role: UserRole) -> User | None:
        """Change an account's role (the operator's CLI); None when no such account."""
        ...

    async def get_user(self, user_id: int) -> User | None: ...

    async def get_credentials(self, email: str) -> UserCredentials | None: ...

    async def register_device(self, device_id: str, owner_id: int | None) -> None:
        """Create the device if missing and make ``owner_id`` its owner (the operator's path;
        parents claim with a code). Keeps the owner's membership in sync: a new owner (or None)
        drops every earlier member, caregivers included; the same owner keeps them. A device
        created here for its owner is theirs from the start; handing an existing device to a
        new owner starts a new claim period (cloud/storage/claim_plan.py): they see only what it
        records from now on."""
        ...

    async def set_device_settings(self, device_id: str, settings: dict[str, float]) -> None:
        """Replace the nursery (alert rule) settings; no access check (operator/tests)."""
        ...

    async def get_device_state(self, device_id: str) -> DeviceState | None: ...

    # --- provisioning (installers and the operator) ---
    async def provision_device(
        self,
        device_id: str,
        code_hash: str,
        claim_expires_at: datetime,
        provisioned_by: int | None,
    ) -> None:
        """Create a new, unowned device waiting for the claim code hashing to ``code_hash``.
        DuplicateDeviceError when the id exists (revoked ids are never reused);
        ClaimCodeInUseError when another device waits for the same hash."""
        ...

    async def revoke_device(self, device_id: str, now: datetime, installer_id: int | None) -> bool:
        """Mark the device revoked and drop any claim code waiting for it. With ``installer_id``
        only a device that installer provisioned qualifies; None is the operator (any device).
        False when there is no such device for the caller. Members keep its history."""
        ...

    async def list_provisioned_devices(self, installer_id: int) -> list[ProvisionedDevice]:
        """The devices this installer provisioned, newest first."""
        ...

    # --- claiming and sharing devices (the parents' API) ---
    async def set_claim_code(self, device_id: str, code_hash: str, expires_at: datetime) -> None:
        """Let the device be claimed with the code hashing to ``code_hash`` until
        ``expires_at``, replacing any earlier code; registers the device, unowned, if missing.
        ClaimCodeInUseError when another device waits for the same hash."""
        ...

    async def claim_device(
        self, user_id: int, code_hash: str, now: datetime, name: str | None
    ) -> DeviceSummary | None:
        """Make ``user_id`` the owner of the unowned device whose code hashes to ``code_hash``
        and has not expired at ``now``; names it ``name`` and uses the code up. None for a
        wrong, expired or used code and for an owned device, without saying which. Starts the
        device's claim period (cloud/storage/claim_plan.py): the family sees only what it
        records from ``now`` (or its last release, if later) on; alarms raised before stop
        escalating."""
        ...

    async def list_devices(self, user_id: int) -> list[DeviceSummary]:
        """The devices the user is a member of, by name (case-insensitive; the device id for an
        unnamed device), then device id."""
        ...

    async def get_device(self, user_id: int, device_id: str) -> DeviceSummary | None:
        """The device as ``list_devices`` shows it; None when the user is not a member."""
        ...

    async def rename_device(self, user_id: int, device_id: str, name: str | None) -> DeviceSummary:
        """Owner only: AccessDeniedError for a caregiver, NotFoundError for anyone else."""
        ...

    async def update_device_settings(
        self,
        user_id: int,
        device_id: str,
        nursery: dict[str, object] | None,
        device: dict[str, object] | None,
    ) -> DeviceSummary:
        """Owner only (as ``rename_device``). Replaces each settings document given (None keeps
        it; validating them is the caller's job); giving ``device`` raises
        ``device_settings_revision`` by one in the same statement."""
        ...

    async def unclaim_device(self, user_id: int, device_id: str) -> None:
        """Owner only (as ``rename_device``). Every member loses the device; its name, claim
        time and both settings documents are cleared (the revision still rises, so the device
        never sees it go back). Its history stays stored but is shown to nobody, not even a
        later owner: data belongs to the claim period it was recorded in, and a later owner sees
        only what the device records after their own claim (cloud/storage/claim_plan.py)."""
        ...

    async def list_caregivers(self, user_id: int, device_id: str) -> list[Caregiver]:
        """Every member, owner first, then caregivers in the order they were added; any member
        may ask (NotFoundError otherwise)."""
        ...

    async def add_caregiver(self, owner_id: int, device_id: str, email: str) -> Caregiver:
        """Owner only (as ``rename_device``): share the device with the account of ``email``
        (case-insensitive). NotFoundError (subject ``user``) when there is no such account -
        the API must answer that exactly as a success, so invitations cannot probe for
        accounts. Adding a member again changes nothing and returns them as they are."""
        ...

    async def remove_caregiver(self, user_id: int, device_id: str, member_id: int) -> None:
        """The owner removes any caregiver; a caregiver removes only themself. AccessDeniedError
        for anything else a member tries (removing the owner included); NotFoundError (subject
        ``device``) for a non-member caller, (subject ``user``) when ``member_id`` is not a
        member."""
        ...

    async def list_cry_episodes(
        self,
        user_id: int,
        device_id: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[CryEpisode]:
        """The device's cry episodes started in ``[start, end]`` (both included, either open),
        newest first; NotFoundError when the user is not a member."""
        ...

    # --- "not a cry": the home's list of sounds to ignore (cloud/storage/not_a_cry_plan.py) ---
    # Any member of the device may change it (NotFoundError for anyone else); every change
    # raises the list's revision, which the API sends the device with the whole list. Claiming
    # and unclaiming the device (and the operator handing it to another owner) empty the list
    # and raise its revision if anything was marked: a new family starts with nothing marked.
    async def mark_not_a_cry(
        self, user_id: int, device_id: str, episode_id: int, now: datetime
    ) -> IgnoreListState:
        """Put the device's cry episode ``episode_id`` (a ``cry_started`` of its current claim
        period) on its list, marked at ``now`` by ``user_id``; NotFoundError (subject
        ``device``) when the user is not a member or there is no such episode;
        AmbiguousEpisodeError when the device used that id for more than one cry episode in
        the period (a wiped device starts its ids again). Marking it again changes nothing
        (no new revision). The list keeps the newest MAX_IGNORE_MARKS
        marks: an older one beyond them is dropped."""
        ...

    async def unmark_not_a_cry(
        self, user_id: int, device_id: str, episode_id: int, one_episode: bool = False
    ) -> IgnoreListState:
        """Take ``episode_id`` off the list (undo); nothing changes when it is not on it.
        ``one_episode``: the undo comes from one alert's episode, refused with
        ``AmbiguousEpisodeError`` like a mark when the device used the id for several episodes
        of the period (the mark is the first one's)."""
        ...

    async def clear_ignore_list(self, user_id: int, device_id: str) -> IgnoreListState:
        """Empty the list, always under a new revision - also when it was empty here: a
        monitor can hold other marks under the same revision (a database restored from a
        backup older than a list it took), and only a newer revision replaces them, so a
        parent's Clear always reaches it."""
        ...

    async def get_ignore_list(self, user_id: int, device_id: str) -> IgnoreListState:
        """The list as the device is sent it, and what the device last reported of it."""
        ...

    async def ignore_list_for_device(self, device_id: str) -> IgnoreListState:
        """The list of a device, whoever holds it (the API republishes it), its marks and
        revision read together; NotFoundError when there is no such device."""
        ...

    async def unpublished_ignore_lists(self, limit: int) -> list[IgnoreListState]:
        """At most ``limit`` lists whose revision is above the highest one noted as published,
        in device id order: changed in storage and not yet handed to the broker (the API's
        sync sends them, cloud/api/ignore_list_sync.py)."""
        ...

    async def note_ignore_list_published(self, device_id: str, revision: int) -> None:
        """Revision ``revision`` of the device's list was handed to the broker. Only raises
        what is noted, never lowers it (only the device's own status does, when it holds an
        older revision: the broker lost it); a device that is gone is no error."""
        ...

    # --- alerts as each user sees them ---
    async def list_user_alerts(self, user_id: int, query: AlertQuery) -> list[AlertView]:
        """Alerts of the devices the user is a member of plus the alerts of their own uploads,
        newest (``time``, then id) first, each with the user's own read mark."""
        ...

    async def count_unread_alerts(self, user_id: int) -> int:
        """How many of the alerts ``list_user_alerts`` would show are unread by this user."""
        ...

    async def mark_alerts_read(
        self, user_id: int, alert_ids: list[int] | None, now: datetime
    ) -> int:
        """Mark the given alerts (None: all of them) read for this user only; ids the user
        cannot see are ignored. Returns how many became read now."""
        ...

    async def device_member_ids(self, device_id: str) -> list[int]:
        """The users who may see the device: owner first, then caregivers."""
        ...

    async def device_audience(self, device_id: str) -> DeviceAudience:
        """The device's members (as ``device_member_ids``) and the start of its current claim
        period: live data recorded before it is nobody's (cloud/storage/claim_plan.py)."""
        ...

    # --- alarms: acknowledge-or-escalate, delivery records, gaps ---
    async def acknowledge_alert(
        self, user_id: int, alert_id: int, now: datetime
    ) -> StoredAlert | None:
        """The caller takes the alarm (once; repeats change nothing): escalation stops and
        every member is told (announcement "acknowledged"). Also marks it read for the caller.
        None when the caller cannot see the alert."""
        ...

    async def escalate_due(self, now: datetime) -> list[StoredAlert]:
        """Escalate every unacknowledged alarm that is due: one level further down the
        nursery's caregiver order; each is announced ("escalated", with its targets)."""
        ...

    async def record_deliveries(self, deliveries: list[AlertDelivery]) -> None:
        """Remember when alerts were written to users' sockets (the first time per level)."""
        ...

    async def delivery_stats(
        self, user_id: int, device_id: str, since: datetime
    ) -> DeliveryStats | None:
        """How promptly the device's alerts since ``since`` reached and were taken by its
        caregivers; None when the caller is not a member."""
        ...

    async def list_alert_transitions(
        self, user_id: int, alert_id: int
    ) -> list[AlertTransition] | None:
        """An alert's raised/escalated/acknowledged steps; None when not visible."""
        ...

    async def list_gaps(
        self,
        user_id: int,
        device_id: str | None,
        start: datetime | None,
        end: datetime | None,
        include_closed: bool = False,
    ) -> list[Gap]:
        """Stretches without data of the caller's devices overlapping ``start``..``end``,
        newest first; back-filled ones only with ``include_closed``."""
        ...

    async def alert_recipients(self, alert: StoredAlert) -> list[int]:
        """Who is told about an alert: the uploader of an upload alert; every member of the
        device (owner first) of a device alert raised in its current claim period (nobody for
        one raised from what it recorded before the claim)."""
        ...

    # --- push notifications (cloud/push/, docs/api.md "Push notifications") ---
    async def register_push_subscription(
        self, subscription: NewPushSubscription, now: datetime
    ) -> tuple[PushSubscription, bool]:
        """Store a browser's subscription for its user; True when it is new. An endpoint that
        exists already moves to this user with the new keys (the last account signed in on a
        browser profile owns its endpoint) and its failure count starts again. A user keeps at
        most MAX_SUBSCRIPTIONS_PER_USER: the least recently registered beyond that are
        removed."""
        ...

    async def list_push_subscriptions(self, user_id: int) -> list[PushSubscription]:
        """The user's subscriptions, oldest first."""
        ...

    async def delete_push_subscription(self, user_id: int, subscription_id: int) -> bool:
        """Remove one of the user's subscriptions; False when it is not theirs (or gone)."""
        ...

    async def push_subscriptions_of(self, user_ids: list[int]) -> list[PushSubscription]:
        """Every subscription of these users (whom an alert is pushed to)."""
        ...

    async def get_push_subscriptions(self, subscription_ids: list[int]) -> list[PushSubscription]:
        """The subscriptions with these ids that still exist."""
        ...

    async def claim_push_deliveries(
        self, claims: list[PushClaim], now: datetime, lease_until: datetime
    ) -> list[PushDelivery]:
        """Insert a ``sending`` row (attempt 1, leased until ``lease_until``) per claim unless
        its (alert, level, purpose, subscription) exists: returns the rows inserted now, which
        this caller - and no other process - sends. Claims of deleted subscriptions are
        skipped, and so are alarm (``alert``) claims of an alert acknowledged already."""
        ...

    async def claim_due_push_deliveries(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[PushJob]:
        """Take up to ``limit`` rows due at ``now``: ``retrying`` ones whose next attempt has
        come and ``sending`` ones whose lease has passed (their process died mid-send). Each is
        ``sending`` again, one attempt more, leased until ``lease_until``; on PostgreSQL
        concurrent callers never take the same row (``FOR UPDATE SKIP LOCKED``)."""
        ...

    async def record_push_result(self, result: PushResult) -> PushStatus | None:
        """Record how an attempt ended and update its subscription's success/failure marks;
        ``expired`` deletes the subscription. A row cancelled meanwhile stays ``cancelled``
        (the answer is still recorded). Returns the row's status now, or None when the attempt
        is no longer the row's (its lease passed and another attempt took it)."""
        ...

    async def renew_push_lease(
        self, delivery_id: int, attempt: int, now: datetime, lease_until: datetime
    ) -> bool:
        """Right before its request goes out: the row is still this attempt's and ``sending``
        -> lease it until ``lease_until``, set ``sent_at`` and return True; False when another
        process took it meanwhile (its lease passed while it waited for a free slot)."""
        ...

    async def release_push_leases(self, leases: list[tuple[int, int]], now: datetime) -> None:
        """(delivery id, attempt) rows claimed but never sent (the process is stopping): due
        again at ``now``, so another process (or the next start) sends them promptly."""
        ...

    async def unpushed_alarms(self, since: datetime, limit: int) -> list[StoredAlert]:
        """Up to ``limit`` alerts created since ``since`` that ring like alarms (needs_ack, sick,
        the device's test alert), are not acknowledged and have no alert push row at their
        current escalation level: committed while no API process listened."""
        ...

    async def cancel_pending_push(self, alert_id: int) -> list[PushDelivery]:
        """The alert was acknowledged: its ``sending``/``retrying`` alert pushes become
        ``cancelled``. Returns every alert push row of the alert, as it is now."""
        ...

    async def acknowledge_push_delivery(
        self, alert_id: int, subscription_id: int, now: datetime
    ) -> None:
        """The alarm was acknowledged from this subscription's notification: mark its alert
        push rows ``acknowledged_at``."""
        ...

    async def get_alert(self, alert_id: int) -> StoredAlert | None:
        """One alert by id, whoever may see it (the push pipeline's retries)."""
        ...

    async def list_alert_deliveries(
        self, user_id: int, alert_id: int
    ) -> list[DeliveryRecord] | None:
        """How the alert reached people: socket writes (``alert_deliveries``) and push requests,
        oldest first; None when the caller cannot see the alert (as
        ``list_alert_transitions``)."""
        ...

    # --- refresh tokens (sessions) ---
    async def store_refresh_token(
        self,
        token_id: str,
        user_id: int,
        family_id: str,
        issued_at: datetime,
        expires_at: datetime,
        generation: int,
    ) -> bool:
        """Remember an issued refresh token for the sign-in ``generation`` read with the
        credentials; True when it is alive. It is stored revoked (False) when its family has
        been revoked - a rotation racing a theft detection or a logout cannot revive it - or
        when the user's generation is no longer ``generation``: a sign-in that read the
        credentials before a logout everywhere or a new password (``end_sessions``) cannot
        outlive it."""
        ...

    async def use_refresh_token(
        self, token_id: str, now: datetime
    ) -> tuple[RefreshUse, int | None]:
        """Spend a refresh token, atomically, and say how it went, with its user (None when
        unknown): ``revoked``, then ``expired`` (``expires_at <= now``), then ``reused`` - it
        was spent before, so a copy is in other hands: the whole family is revoked - else
        ``ok``, and it is spent now."""
        ...

    async def revoke_refresh_family(self, family_id: str, now: datetime) -> None:
        """Revoke every token of one sign-in (logout)."""
        ...

    async def revoke_user_refresh_tokens(self, user_id: int, now: datetime) -> int:
        """Revoke every token of the user (logout everywhere); returns how many it revoked
        (those not revoked already)."""
        ...

    async def end_sessions(
        self, user_id: int, now: datetime, password_hash: str | None = None
    ) -> int | None:
        """End every sign-in of the user (logout everywhere, a new password): revoke their
        refresh tokens and move their sign-in generation on, so access tokens issued before
        stop working; ``password_hash`` replaces the password in the same transaction. Returns
        the new generation, None when there is no such user."""
        ...

    async def session_generations(self, user_ids: list[int]) -> dict[int, int]:
        """The current sign-in generation of each of these users (deleted users are absent)."""
        ...

    # --- ingest (the collector) ---
    async def ingest(self, batch: IngestBatch) -> IngestResult:
        """Store a batch in one transaction and apply the alert rules to what was new.

        Rows whose ``(device_id, seq)`` is stored already are ignored; rows of unknown devices
        become dead letters. A status or reported config replaces the device's stored one only
        when newer: statuses by device time, reported configs by revision, then device time (an
        older revision redelivered later never replaces a newer one). Committed when this
        returns; the returned alerts are announced to ``listen_alerts`` subscribers only after
        the commit.
        """
        ...

    async def check_offline(self, now: datetime) -> list[StoredAlert]:
        """Raise DEVICE_OFFLINE alerts for devices offline past their grace period."""
        ...

    def listen_alerts(self) -> AsyncIterator[StoredAlert]:
        """Every alert committed from now on, by any process writing to this database."""
        ...

    def listen_readings(self) -> AsyncIterator[TelemetryRow]:
        """From now on, the newest new reading of each device in every committed batch."""
        ...

    async def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters first, as stored (``dead_letter_plan.capped``)."""
        ...

    async def prune_dead_letters(self, received_before: datetime, keep_rows: int) -> int:
        """Retention: delete dead letters received before ``received_before`` and all but the
        newest ``keep_rows``; returns how many were deleted."""
        ...

    async def list_alerts(self, device_id: str, limit: int = 100) -> list[StoredAlert]: ...

    # --- the parents' views ---
    async def list_health_records(self, user_id: int, query: HistoryQuery) -> list[HealthRecord]:
        """The user's history, newest first: their uploads and the readings of the devices
        they are a member of (owner or caregiver) recorded in the devices' current claim periods
        (cloud/storage/claim_plan.py), as every read of a device's data below."""
        ...

    async def get_health_record(self, user_id: int, record_id: int) -> HealthRecord | None:
        """One record of the user's history, as ``list_health_records`` shows it; None both when
        it does not exist and when it is not the user's (their upload or a member device's)."""
        ...

    async def add_upload(self, upload: UploadRow) -> tuple[HealthRecord, StoredAlert | None]:
        """Store an app upload and, if it caught a cry, its ``CRY_DETECTED`` alert, in one
        transaction; the alert (``user_id`` set, no device) is announced to ``listen_alerts``
        subscribers after the commit, as collector alerts are. Returns the record as the history
        shows it and the alert, if any."""
        ...

    async def health_stats(self, user_id: int) -> HealthStats:
        """Totals over the user's whole history (their uploads + their member devices'
        readings):

        - ``total_records``: uploads + device readings (cry events are not records);
        - ``cry_detected_count``: records with ``cry_detected`` (uploads; device readings never
          set it) + the user's devices' cry episodes (events of kind ``cry_started``);
        - ``sick_detected_count``: records with ``sick_detected``;
        - ``avg_temperature`` / ``avg_humidity``: over the records that have a value, None when
          none has;
        - ``latest_record``: the newest record, as ``list_health_records`` orders them.
        """
        ...

    async def health_timeseries(
        self, user_id: int, bucket: timedelta, start: datetime, end: datetime
    ) -> list[TimeBucket]:
        """The user's history in buckets of width ``bucket``, newest first.

        Buckets are aligned to the Unix epoch (1970-01-01T00:00Z), so a day bucket runs from
        midnight UTC; ``bucket`` must be a positive whole number of seconds (ValueError
        otherwise). Only what happened in ``[start, end)`` counts, and only buckets with a
        record or a cry episode are returned. Per bucket, as in ``health_stats``: averages and
        ``record_count`` over uploads + device readings, ``cry_count`` = records with
        ``cry_detected`` + ``cry_started`` events, ``sick_count`` = records with
        ``sick_detected``.
        """
        ...
