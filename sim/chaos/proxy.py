"""A loopback TCP proxy the campaign controls: latency, loss and partitions on one path.

``tc netem`` on a veth pair would be the first choice, but this machine's kernel has no
queueing disciplines at all (``tc qdisc add ... netem`` answers "Specified qdisc kind is
unknown"), so each faulty path (a terminal to the broker, the controller to NSSO) goes
through one of these proxies instead. It listens on 127.0.0.1 and forwards to a loopback
target only. Its modes:

* ``latency_s`` (+ up to ``jitter_s``): every chunk is held that long before it is
  forwarded (both ways);
* ``loss``: the share of chunks that are "lost": TCP never loses bytes, it retransmits, so
  a lost chunk is delivered after a retransmission timeout (``RTO_S``, doubling on each
  further loss of the same chunk) instead of being dropped;
* ``partition``: nothing gets through. Established connections stall (their bytes wait, as
  on a cut cable: the peers notice by their own keep-alive timeouts) and new connections
  are accepted but not connected onwards; when the partition heals, held connections are
  closed (the peers reconnect, as after a real outage of some length).

``baseline`` is the path's normal state (no fault by default; the morning-rush benchmark
gives NSSO's path its usual latency), to which ``heal()`` returns it.

The proxy is a thread of the campaign process; its random choices come from its own seeded
``random.Random``, so a seed replays the same losses for the same traffic.
"""

from __future__ import annotations

import contextlib
import logging
import random
import selectors
import socket
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

RTO_S = 0.2  # Linux's minimum retransmission timeout
CHUNK = 65536
TICK_S = 0.01


@dataclass(frozen=True, slots=True)
class PathFaults:
    latency_s: float = 0.0
    jitter_s: float = 0.0  # each chunk waits latency_s plus up to this much more
    loss: float = 0.0
    partition: bool = False


class _Pipe:
    """One direction of one connection: chunks waiting for their release time."""

    def __init__(self, src: socket.socket, dst: socket.socket) -> None:
        self.src, self.dst = src, dst
        self.queue: list[tuple[float, bytes]] = []
        self.peer: _Pipe | None = None


class FaultProxy:
    """``FaultProxy(target_port, seed).start()``; ``port`` is where clients connect.

    Only the proxy's own thread touches sockets; ``set`` just changes what it does next."""

    def __init__(self, target_port: int, seed: int, name: str = "proxy") -> None:
        self.name = name
        self.target = ("127.0.0.1", target_port)
        self._rng = random.Random(seed)
        self._faults = PathFaults()
        self.baseline = PathFaults()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = int(self._listener.getsockname()[1])
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._pipes: dict[socket.socket, _Pipe] = {}  # by source socket
        self._held: list[socket.socket] = []  # accepted during a partition
        self._drop = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"proxy-{name}", daemon=True)
        self.connections = 0

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def set(self, faults: PathFaults) -> None:
        with self._lock:
            if self._faults.partition and not faults.partition:
                self._drop.set()
            self._faults = faults

    def heal(self) -> None:
        self.set(self.baseline)

    @property
    def faults(self) -> PathFaults:
        with self._lock:
            return self._faults

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._drop_all()
        self._selector.close()
        self._listener.close()

    # --- the loop (the proxy's thread) -----------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            faults = self.faults
            if self._drop.is_set():
                self._drop.clear()
                self._drop_all()
            for key, _ in self._selector.select(timeout=TICK_S):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._listener:
                    self._accept(faults)
                elif not faults.partition and sock in self._pipes:
                    self._read(self._pipes[sock], faults)
            if not faults.partition:
                self._release()

    def _accept(self, faults: PathFaults) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        self.connections += 1
        if faults.partition:
            self._held.append(client)  # a SYN into the void: nobody answers behind it
            return
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()  # the target is down: refused, as it would be
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        there, back = _Pipe(client, upstream), _Pipe(upstream, client)
        there.peer, back.peer = back, there
        for pipe in (there, back):
            self._pipes[pipe.src] = pipe
            self._selector.register(pipe.src, selectors.EVENT_READ)

    def _read(self, pipe: _Pipe, faults: PathFaults) -> None:
        try:
            data = pipe.src.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        now = time.monotonic()
        if not data:  # end of stream: passed on after what is still queued
            self._selector.unregister(pipe.src)
            pipe.queue.append((max(now + faults.latency_s, _last(pipe)), b""))
            return
        delay = faults.latency_s + (self._rng.uniform(0, faults.jitter_s) if faults.jitter_s else 0)
        rto = RTO_S
        while faults.loss and rto < 10 and self._rng.random() < faults.loss:
            delay += rto
            rto *= 2
        # TCP keeps order: a chunk never overtakes the one before it.
        pipe.queue.append((max(now + delay, _last(pipe)), data))

    def _release(self) -> None:
        now = time.monotonic()
        for pipe in list(self._pipes.values()):
            while pipe.queue and pipe.queue[0][0] <= now and pipe.src in self._pipes:
                release, data = pipe.queue[0]
                if not data:
                    self._close(pipe)
                    break
                try:
                    sent = pipe.dst.send(data)
                except BlockingIOError:
                    break
                except OSError:
                    self._close(pipe)
                    break
                if sent < len(data):
                    pipe.queue[0] = (release, data[sent:])
                    break
                pipe.queue.pop(0)

    def _close(self, pipe: _Pipe) -> None:
        for one in (pipe, pipe.peer):
            if one is None or self._pipes.pop(one.src, None) is None:
                continue
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(one.src)
            with contextlib.suppress(OSError):
                one.src.close()

    def _drop_all(self) -> None:
        for pipe in list(self._pipes.values()):
            self._close(pipe)
        held, self._held = self._held, []
        for sock in held:
            with contextlib.suppress(OSError):
                sock.close()


def _last(pipe: _Pipe) -> float:
    return pipe.queue[-1][0] if pipe.queue else 0.0
