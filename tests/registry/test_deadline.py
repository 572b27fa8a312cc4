"""An answer that trickles in is cut off: the call as a whole has a deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from registry.client import RegistryClient
from registry.errors import RegistryUnavailable


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """Answers HTTP 200 with a long body, one byte every 0.1 s (each read is quick, the
    whole answer would take 20 s)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                             b"Content-Length: 200\r\n\r\n")  # fmt: skip
                for _ in range(200):
                    if stop.is_set():
                        break
                    try:
                        conn.sendall(b" ")
                    except OSError:
                        break
                    time.sleep(0.1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/PresenceRegistration/v1"
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_a_trickling_answer_is_cut_off_after_connect_plus_read_timeout(
    trickling_server: str,
) -> None:
    client = RegistryClient(trickling_server, connect_timeout=0.3, read_timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(RegistryUnavailable) as caught:
            client.get("123456789012345")
    finally:
        client.close()
    elapsed = time.monotonic() - started
    assert caught.value.code == "timeout" and caught.value.in_doubt
    assert elapsed < 0.3 + 2 * 0.5 + 0.5  # deadline, at most one more read, and slack
