"""A TCP proxy between a device and the broker whose link the test can cut: a network loss on
the device's side while the broker stays up (so the broker publishes the device's last will,
and the device keeps recording into its outbox).

One thread owns every socket; ``cut`` and ``restore`` only ask it, so no socket is closed
under the selector's feet.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

from tests.harness.network import free_port

CHUNK = 65536
TICK_S = 0.05


class CuttableProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.port = free_port()
        self._target = (target_host, target_port)
        self._up = True
        self._cut_requested = threading.Event()
        self._cut_done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="proxy", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cut(self) -> None:
        """Drop every connection and refuse new ones until ``restore``."""
        self._cut_done.clear()
        self._cut_requested.set()
        self._cut_done.wait(5)

    def restore(self) -> None:
        self._up = True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _serve(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.setblocking(False)
        selector = selectors.DefaultSelector()
        selector.register(listener, selectors.EVENT_READ, None)
        try:
            while not self._stop.is_set():
                if self._cut_requested.is_set():
                    self._up = False
                    self._close_all(selector, listener)
                    self._cut_requested.clear()
                    self._cut_done.set()
                for key, _ in selector.select(TICK_S):
                    if key.fileobj is listener:
                        self._accept(selector, listener)
                    else:
                        self._forward(selector, key)
        finally:
            self._close_all(selector, listener)
            listener.close()

    def _accept(self, selector: selectors.BaseSelector, listener: socket.socket) -> None:
        client, _ = listener.accept()
        if not self._up:
            client.close()  # as if the network were down: the device retries later
            return
        upstream = socket.create_connection(self._target)
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)

    def _forward(self, selector: selectors.BaseSelector, key: selectors.SelectorKey) -> None:
        source: socket.socket = key.fileobj  # type: ignore[assignment]
        sink: socket.socket = key.data
        try:
            data = source.recv(CHUNK)
            if data:
                sink.sendall(data)
                return
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(end)
            end.close()

    def _close_all(self, selector: selectors.BaseSelector, listener: socket.socket) -> None:
        for key in list(selector.get_map().values()):
            if key.fileobj is listener:
                continue
            selector.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
