"""The API's composition root: ``create_app(settings)`` wires storage and security together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from cloud.api.deps import AppServices
from cloud.api.routes import auth, health
from cloud.api.security import PasswordHasher, TokenIssuer
from cloud.config import ApiSettings
from cloud.storage import open_storage

DESCRIPTION = """
The parents' API of Nursery: accounts, the history of the nursery's readings and the app's
uploads. The documented app contract is kept exactly; fields beyond it are additions.
"""


def create_app(settings: ApiSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = await open_storage(settings.database_url)
        try:
            await storage.migrate()
            app.state.services = AppServices(
                storage=storage,
                hasher=PasswordHasher(),
                tokens=TokenIssuer(
                    secret=settings.jwt_secret,
                    algorithm=settings.jwt_algorithm,
                    access_ttl=timedelta(minutes=settings.access_token_expire_minutes),
                ),
            )
            yield
        finally:
            await storage.close()

    app = FastAPI(title="Nursery API", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.include_router(auth.router)
    app.include_router(health.router)
    return app
