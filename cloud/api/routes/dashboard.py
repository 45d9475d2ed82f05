"""The parents' web dashboard: static files shipped in this package (``cloud/api/dashboard``),
served at ``/`` and ``/dashboard/<file>``, plus the settings defaults it shows. It is an
installable web app: its manifest and its service worker (which shows push alarms) are served at
the root, ``/manifest.webmanifest`` and ``/sw.js``, because a service worker controls only the
paths below its own URL and the app's scope is the whole site.

The dashboard is a client of the documented API like the phone app: it signs in, reads with a
bearer token and listens on the WebSocket. Nothing here touches storage. Every response carries a
strict Content-Security-Policy (scripts and styles only from this origin, no inline code,
connections only back to this origin), so an injected string can never run as code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status

from cloud.rules import NurserySettings
from models.contract import DeviceSettings

# Not part of the API's OpenAPI description: these are a web page's files, not operations.
router = APIRouter(include_in_schema=False)

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
# Served at the root only: the service worker's URL sets its scope ("/" here, the whole app);
# the same file under /dashboard/ would register a second worker limited to /dashboard/.
ROOT_ASSETS = frozenset({"sw.js", "manifest.webmanifest"})
# 'self' covers ws:/wss: to this origin in CSP Level 3 browsers (the WebSocket); form-action
# 'none' because forms are handled by the script: should it ever not run, a form must not send
# a password in a URL.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        # The installable app: its manifest and its service worker (push alarms), both from here.
        "manifest-src 'self'",
        "worker-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    # The page needs none of these; a baby monitor's web page must never ask for the microphone.
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    # Revalidate every time (cheap with the ETag): an updated server never runs an old script.
    "Cache-Control": "no-cache",
}


@cache
def asset_names() -> frozenset[str]:
    """The files the dashboard may serve: those shipped in ``cloud/api/dashboard`` with a known
    type. Only these names are answered, so a request can never reach another file."""
    folder = files("cloud.api").joinpath("dashboard")
    return frozenset(
        entry.name
        for entry in folder.iterdir()
        if entry.is_file()
        and entry.name not in ROOT_ASSETS
        and any(entry.name.endswith(suffix) for suffix in MEDIA_TYPES)
    )


@cache
def _asset(name: str) -> tuple[bytes, str]:
    """The file's bytes and a strong ETag; read once per process (a few small files)."""
    body = files("cloud.api").joinpath("dashboard", name).read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def _respond(request: Request, body: bytes, etag: str, media_type: str) -> Response:
    headers = {**SECURITY_HEADERS, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _serve(request: Request, name: str) -> Response:
    if name not in asset_names():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return _serve_file(request, name)


def _serve_file(request: Request, name: str) -> Response:
    body, etag = _asset(name)
    suffix = name[name.rindex(".") :]
    return _respond(request, body, etag, MEDIA_TYPES[suffix])


@router.get("/")
async def index(request: Request) -> Response:
    return _serve(request, "index.html")


@router.get("/manifest.webmanifest")
async def manifest(request: Request) -> Response:
    return _serve_file(request, "manifest.webmanifest")


@router.get("/sw.js")
async def service_worker(request: Request) -> Response:
    # Cache-Control: no-cache (SECURITY_HEADERS) makes the browser check for a new worker on
    # every navigation; the page registers it with updateViaCache "none" too.
    return _serve_file(request, "sw.js")


@cache
def _defaults() -> tuple[bytes, str]:
    """What a nursery and a device use until their owner changes something: the API returns
    only the settings that were set, the dashboard shows the effective ones. Taken from the
    code that applies them, so the page can never disagree with the alert rules or the device."""
    schema: dict[str, Any] = DeviceSettings.model_json_schema()["properties"]
    document = {
        "nursery": asdict(NurserySettings()),
        "device": {
            key: {name: spec[name] for name in ("default", "minimum", "maximum") if name in spec}
            for key, spec in schema.items()
        },
    }
    body = json.dumps(document, separators=(",", ":")).encode()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


@router.get("/dashboard/defaults.json")
async def defaults(request: Request) -> Response:
    body, etag = _defaults()
    return _respond(request, body, etag, "application/json")


@router.get("/dashboard/{name}")
async def asset(request: Request, name: str) -> Response:
    return _serve(request, name)
