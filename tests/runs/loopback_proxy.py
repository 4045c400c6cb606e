"""A small HTTP proxy on loopback for tests: ``CONNECT`` tunnels (https) and absolute-URI forwarding
(http), each request recorded, so a test can prove a call went through it (or bypassed it).

Bounded: one thread per connection, at most ``max_connections`` at a time (more are refused with
503), every socket with a timeout, tunnels closed after ``idle`` seconds without traffic; ``stop()``
closes the listener and every open socket and joins the threads.
"""

import select
import socket
import threading
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urlsplit


@dataclass
class Seen:
    method: str
    target: str  # host:port for CONNECT, the absolute URL otherwise
    proxy_authorization: Optional[str] = None


@dataclass
class LoopbackProxy:
    max_connections: int = 32
    idle: float = 10.0
    seen: list[Seen] = field(default_factory=list)
    # names only the proxy can resolve ("files.example.test" -> a loopback server): a request for one
    # can only have succeeded through the proxy
    hosts: dict[str, tuple[str, int]] = field(default_factory=dict)

    def start(self) -> "LoopbackProxy":
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._active = 0
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept, name="loopback-proxy", daemon=True)
        self._acceptor.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def targets(self, method: Optional[str] = None) -> list[str]:
        with self._lock:
            return [s.target for s in self.seen if method is None or s.method == method]

    def stop(self) -> None:
        self._stopping.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            for s in list(self._sockets):
                try:
                    s.close()
                except OSError:
                    pass
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=5)

    def __enter__(self) -> "LoopbackProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- internals

    def _track(self, s: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.add(s)
        return s

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                busy = self._active >= self.max_connections
                if not busy:
                    self._active += 1
            if busy:
                try:
                    conn.sendall(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                finally:
                    conn.close()
                continue
            t = threading.Thread(target=self._serve, args=(self._track(conn),), daemon=True)
            with self._lock:
                self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        upstream: Optional[socket.socket] = None
        try:
            conn.settimeout(self.idle)
            head, rest = _read_head(conn)
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = [ln for ln in lines[1:] if ln]
            auth = next((h.split(":", 1)[1].strip() for h in headers if h.lower().startswith("proxy-authorization:")), None)
            with self._lock:
                self.seen.append(Seen(method, target, auth))
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream = self._track(socket.create_connection(self.hosts.get(host, (host, int(port))),
                                                                timeout=self.idle))
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                self._relay(conn, upstream)
                return
            # forwarding: one request per connection (Connection: close both ways)
            url = urlsplit(target)
            if not url.scheme or not url.hostname:
                conn.sendall(b"HTTP/1.1 400 Absolute URI needed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            length = next((int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0)
            body = rest
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            keep = [h for h in headers if h.split(":", 1)[0].strip().lower()
                    not in ("proxy-authorization", "proxy-connection", "connection", "keep-alive")]
            path = url.path or "/"
            if url.query:
                path += "?" + url.query
            address = self.hosts.get(url.hostname, (url.hostname, url.port or 80))
            upstream = self._track(socket.create_connection(address, timeout=self.idle))
            upstream.sendall(f"{method} {path} {version}\r\n".encode("latin-1")
                             + "".join(f"{h}\r\n" for h in keep + ["Connection: close"]).encode("latin-1")
                             + b"\r\n" + body)
            answer = b""
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                answer += chunk
            rhead, _, rbody = answer.partition(b"\r\n\r\n")
            rlines = [ln for ln in rhead.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
            conn.sendall(b"\r\n".join(rlines + [b"Connection: close"]) + b"\r\n\r\n" + rbody)
        except (OSError, ValueError):
            pass
        finally:
            for s in (conn, upstream):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
            with self._lock:
                self._active -= 1

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        while not self._stopping.is_set():
            ready, _, _ = select.select([a, b], [], [], self.idle)
            if not ready:
                return  # idle: close the tunnel
            for src in ready:
                data = src.recv(65536)
                if not data:
                    return
                (b if src is a else a).sendall(data)


def _read_head(conn: socket.socket) -> tuple[Optional[bytes], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
        if len(data) > 65536:
            return None, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest
