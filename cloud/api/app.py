"""The API's composition root: ``create_app(settings)`` wires storage, security, the cry model,
uploads and the real-time alert fan-out together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import aiohttp
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from cloud.api.cry_analysis import CryAnalyzer
from cloud.api.deps import AppServices
from cloud.api.device_config import DesiredConfigPublisher
from cloud.api.ignore_list_sync import IgnoreListSync
from cloud.api.password_work import PasswordWork
from cloud.api.ratelimit import LoginRateLimiter, LoginThrottle
from cloud.api.realtime import AlertBroadcaster
from cloud.api.request_log import RequestLogMiddleware
from cloud.api.routes import (
    alerts,
    auth,
    dashboard,
    devices,
    health,
    installer,
    not_a_cry,
    ops,
    push,
    realtime,
)
from cloud.api.security import PasswordHasher, TokenIssuer
from cloud.api.validation import validation_error_answer
from cloud.collector import Collector
from cloud.config import ApiSettings, CollectorSettings
from cloud.delivery.dispatch import AlertChannel, AlertDispatcher
from cloud.push.ack_token import AckTokens
from cloud.push.channel import WebPushChannel, new_push_session
from cloud.push.keys import application_server_key
from cloud.push.pipeline import PushPipeline
from cloud.storage import open_storage
from cloud.uploads import AudioStore

# Where the API documentation pages load their scripts and styles from.
DOCS_ASSETS = "/docs-assets"

DESCRIPTION = f"""
The parents' API of Nursery: accounts, the nursery's readings and the app's uploads, statistics,
time series and real-time alerts; devices (claim, settings pushed to the device, sharing with
other caregivers), alerts with a read state, cry episodes, refresh tokens. The documented app
contract is kept exactly; fields and endpoints beyond it are additions that older clients can
ignore.

A web dashboard for parents (live readings, alarms, alerts, settings, sharing) is served at
`/`; it uses only the operations below.

Authenticate with `POST /auth/token` (OAuth2 password form) or `POST /auth/login` (JSON) and send
`Authorization: Bearer <access_token>`.

Alerts also reach locked phones as Web Push notifications: `GET /push/config`, then
`POST /push/subscriptions` with the browser's subscription; an alarm's notification can be
acknowledged with `POST /push/ack`. `GET /alerts/{{id}}/deliveries` shows how an alert reached
everyone (socket writes and push requests).

## WebSocket `/ws/{{user_id}}?token=...`
{realtime.WEBSOCKET_DESCRIPTION}
"""


def create_app(settings: ApiSettings, collector: CollectorSettings | None = None) -> FastAPI:
    """The API; with ``collector`` settings the MQTT collector runs in the same process on the
    same storage (``nursery-cloud serve``: a single-home install or the demo, where SQLite's
    in-process alert hub needs the collector and the API together)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = await open_storage(settings.database_url)
        listeners: list[asyncio.Task[None]] = []
        publisher: DesiredConfigPublisher | None = None
        embedded: Collector | None = None
        passwords: PasswordWork | None = None
        push_session: aiohttp.ClientSession | None = None
        pipeline: PushPipeline | None = None
        try:
            await storage.migrate()
            broadcaster = AlertBroadcaster(storage)
            channels: list[AlertChannel] = [broadcaster]
            ack_tokens = AckTokens(settings.jwt_secret, settings.jwt_algorithm)
            push_public_key = None
            if settings.push is not None:
                push_public_key = application_server_key(settings.push.vapid_private_key)
                push_session = new_push_session()
                webpush = WebPushChannel(
                    settings.push.vapid_private_key, settings.push.vapid_subject, push_session
                )
                pipeline = PushPipeline(storage, {webpush.channel: webpush}, ack_tokens)
                channels.append(pipeline)
            dispatcher = AlertDispatcher(storage, storage.alert_recipients, channels)
            publisher = None
            if settings.mqtt is not None:
                publisher = DesiredConfigPublisher(settings.mqtt)
                await publisher.start()
            hasher = PasswordHasher()
            passwords = PasswordWork(
                hasher,
                threads=settings.password_hashing_threads,
                registration_lanes=settings.password_hashing_threads - 1,
                registration_queue=settings.registration_queue,
            )
            app.state.services = AppServices(
                storage=storage,
                hasher=hasher,
                tokens=TokenIssuer(
                    secret=settings.jwt_secret,
                    algorithm=settings.jwt_algorithm,
                    access_ttl=timedelta(minutes=settings.access_token_expire_minutes),
                    refresh_ttl=timedelta(days=settings.refresh_token_expire_days),
                ),
                login_limiter=LoginRateLimiter(settings.login_failures_per_minute),
                login_throttle=LoginThrottle(settings.login_failures_per_minute),
                registration_limiter=LoginRateLimiter(
                    settings.registrations_per_hour, window_s=3600.0
                ),
                passwords=passwords,
                analyzer=await asyncio.to_thread(CryAnalyzer.load),
                audio_store=AudioStore(Path(settings.upload_dir), settings.max_upload_bytes),
                broadcaster=broadcaster,
                config_publisher=publisher,
                provisioning=settings.provisioning,
                ack_tokens=ack_tokens,
                push=settings.push,
                push_public_key=push_public_key,
                push_pipeline=pipeline,
            )
            listeners = [
                asyncio.create_task(dispatcher.run(), name="alert-listener"),
                asyncio.create_task(broadcaster.run_readings(), name="reading-listener"),
                asyncio.create_task(broadcaster.run_delivery_recorder(), name="deliveries"),
                asyncio.create_task(broadcaster.run_revocation_check(), name="revocations"),
            ]
            if pipeline is not None:
                listeners.append(asyncio.create_task(pipeline.run_sweeper(), name="push-retries"))
            if publisher is not None:
                # Sends the "not a cry" lists no route sent (cloud/api/ignore_list_sync.py);
                # cancelled with the listeners, before the publisher stops.
                sync = IgnoreListSync(storage, publisher)
                listeners.append(asyncio.create_task(sync.run(), name="ignore-list-sync"))
            if collector is not None:
                embedded = Collector(collector, storage)
                await embedded.start()
            # /readyz reports the collector of `nursery-cloud serve` too (cloud/api/routes/ops.py).
            app.state.embedded_collector = embedded
            yield
        finally:
            if embedded is not None:
                # First: its last batch is committed while storage is still open.
                await embedded.stop()
            for listener in listeners:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            if pipeline is not None:
                await pipeline.close()
            if push_session is not None:
                await push_session.close()
            if publisher is not None:
                await publisher.stop()
            if passwords is not None:
                passwords.close()
            await storage.close()

    # /docs (Swagger UI) with its scripts and styles served from this server (packaged by
    # fastapi-offline), not from a CDN: the docs work on a network without internet. No /redoc:
    # its bundle always loads a logo from redocly's CDN, a third-party request from the browser.
    app = FastAPIOffline(
        title="Nursery API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
        redoc_url=None,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(RequestLogMiddleware)
    app.add_exception_handler(RequestValidationError, validation_error_answer)
    app.include_router(auth.router)
    app.include_router(health.router)
    app.include_router(devices.router)
    app.include_router(installer.router)
    app.include_router(alerts.router)
    app.include_router(not_a_cry.router)
    app.include_router(push.router)
    app.include_router(realtime.router)
    app.include_router(ops.router)
    # The parents' web dashboard at / (static files; a client of the routes above).
    app.include_router(dashboard.router)
    return app
