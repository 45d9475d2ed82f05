"""The API process keeps an idle HTTP connection open longer than its clients and proxies keep
theirs (cloud/cli API_KEEP_ALIVE_S), so a client reusing one never races the server closing it
and loses the request ("Server disconnected without sending a response")."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

# Past uvicorn's default keep-alive (5 s) and httpx's idle expiry (5 s).
IDLE_S = 6.5


def test_an_idle_connection_is_still_served_after_the_client_pause(api_url: str) -> None:
    address = urlsplit(api_url)
    assert address.hostname is not None
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        first = connection.getresponse()
        assert first.status == 200
        first.read()
        socket_before = connection.sock
        time.sleep(IDLE_S)
        # The same socket (http.client opens a new one only when it knows the old one closed);
        # a server that closed it meanwhile answers nothing: RemoteDisconnected.
        connection.request("GET", "/healthz")
        assert connection.sock is socket_before
        again = connection.getresponse()
        assert again.status == 200, again.read()
    finally:
        connection.close()
