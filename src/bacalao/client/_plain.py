"""HTTP/1.1 over the stdlib's sockets: the blocking client's plain requests, without httpx.

Importing httpx (httpcore, h11, anyio, ssl, email, idna…) and building an ``httpx.Client`` costs
~100 ms, more than everything else ``bacalao job list`` does. A request to a plain ``http://`` API
that no proxy stands in front of, with a JSON body and an answer read whole, needs none of it:
:class:`PlainHTTP` sends such requests on kept-alive connections, with httpx's timeouts (each
connect, send and read) and its messages for the failures the client reports. :meth:`fits` says
when it may be used; anything else (``https``, proxies from the environment, streamed answers, a
custom transport) goes through httpx.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

#: The environment variables through which httpx (``trust_env``) would route this API via a proxy.
PROXY_VARS = ("http_proxy", "all_proxy")
MAX_LINE = 65536
MAX_HEADERS = 100


class TransportError(Exception):
    """The request got no (complete) answer; ``str()`` says why, as httpx would."""


class ConnectFailed(TransportError):
    """The connection could not be opened."""


class TimedOut(TransportError):
    """A connect, send or read took longer than the timeout."""


class ProtocolError(TransportError):
    """The peer broke off or did not speak HTTP/1.1."""


def fits(api: str) -> bool:
    """Whether :class:`PlainHTTP` can serve ``api`` exactly as httpx would: ``http://``, an ASCII
    host without credentials, no query, and no proxy configured for it."""
    parts = urlsplit(api)
    try:
        parts.port  # noqa: B018 (a bad port raises)
    except ValueError:
        return False
    if parts.scheme.lower() != "http" or not parts.hostname or not parts.hostname.isascii():
        return False
    if "@" in parts.netloc or parts.query or parts.fragment:
        return False
    if sys.platform in ("darwin", "win32"):  # httpx also reads the system's proxy settings there
        return False
    env = {k.lower(): v for k, v in os.environ.items() if k.lower() in PROXY_VARS and v}
    return not env


class _Connection:
    """One TCP connection and the buffered reader of its answers."""

    def __init__(self, host: bytes, port: int, timeout: float) -> None:
        try:  # an ASCII host as bytes: a str would load the idna codec to encode it
            self.sock = socket.create_connection((host, port), timeout)  # type: ignore[arg-type]
        except TimeoutError:
            raise TimedOut("timed out") from None
        except OSError as exc:
            raise ConnectFailed(str(exc)) from None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def usable(self) -> bool:
        """False once the peer has closed it (or sent something unasked) while it sat idle."""
        try:
            self.sock.setblocking(False)  # the next exchange sets its timeout again
            self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True  # nothing to read: still open
        except OSError:
            return False
        return False  # b"" (closed) or bytes nobody asked for

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def exchange(self, request: bytes, method: str, timeout: float) -> tuple[int, bytes, bool]:
        """Send ``request``; read the answer: (status, body, whether the connection stays open)."""
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(request)
        except TimeoutError:
            raise TimedOut("timed out") from None
        except OSError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from None
        try:
            return self._answer(method)
        except TimeoutError:
            raise TimedOut("timed out") from None
        except TransportError:
            raise
        except OSError as exc:
            raise TransportError(str(exc) or type(exc).__name__) from None

    def _line(self) -> bytes:
        line = self.reader.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise ProtocolError("line too long in the answer")
        return line

    def _answer(self, method: str) -> tuple[int, bytes, bool]:
        while True:
            line = self._line()
            if not line:
                raise ProtocolError("Server disconnected without sending a response.")
            version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
            code = rest[:3]
            if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
                raise ProtocolError(f"malformed status line {line[:80]!r}")
            status = int(code)
            headers = self._headers()
            if not 100 <= status < 200:
                break  # 1xx answers are interim: the real one follows
        connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        keep = version == "HTTP/1.1" and "close" not in connection
        if method == "HEAD" or status in (204, 304):
            return status, b"", keep
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._chunked()
        elif "content-length" in headers:
            length = headers["content-length"].split(",")[0].strip()
            if not length.isdigit():
                raise ProtocolError(f"bad Content-Length {length!r}")
            body = self.reader.read(int(length))
            if len(body) < int(length):
                raise ProtocolError(
                    "peer closed connection without sending complete message body: "
                    f"received {len(body)} bytes, expected {length}"
                )
        else:  # delimited by the end of the connection
            body, keep = self.reader.read(), False
        return status, _decoded(body, headers.get("content-encoding", "")), keep

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            line = self._line()
            if line in (b"\r\n", b"\n"):
                return headers
            if not line:
                raise ProtocolError("Server disconnected without sending a complete response.")
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ProtocolError(f"malformed header line {line[:80]!r}")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        raise ProtocolError("too many headers in the answer")

    def _chunked(self) -> bytes:
        parts = []
        while True:
            size = self._line().split(b";")[0].strip()
            try:
                n = int(size, 16)
            except ValueError:
                raise ProtocolError(
                    "peer closed connection without sending complete message body: "
                    "incomplete chunked read"
                    if not size
                    else f"bad chunk size {size[:20]!r}"
                ) from None
            if n == 0:
                self._headers()  # trailers, if any
                return b"".join(parts)
            chunk = self.reader.read(n)
            if len(chunk) < n or self._line() not in (b"\r\n", b"\n"):
                raise ProtocolError(
                    "peer closed connection without sending complete message body: "
                    "incomplete chunked read"
                )
            parts.append(chunk)


def _decoded(body: bytes, encoding: str) -> bytes:
    """Undo a Content-Encoding (only identity is asked for; gzip and deflate are still read)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise ProtocolError(f"unsupported Content-Encoding {encoding!r}")
    import zlib

    try:
        if encoding == "gzip":
            return zlib.decompress(body, zlib.MAX_WBITS | 16)
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate
    except zlib.error as exc:
        raise ProtocolError(f"cannot decode {encoding} content: {exc}") from None


class PlainHTTP:
    """Requests to one ``http://`` API (see :func:`fits`) over a small pool of kept-alive
    connections; safe to share between threads (each request holds its own connection)."""

    def __init__(self, api: str, timeout: float) -> None:
        parts = urlsplit(api)
        self.host = (parts.hostname or "").encode("ascii")
        self.port = parts.port or 80
        self.timeout = timeout
        self.prefix = parts.path.rstrip("/")
        self.head = (
            f"Host: {parts.netloc}\r\nAccept: */*\r\nAccept-Encoding: identity\r\n"
            "Connection: keep-alive\r\nUser-Agent: bacalao-client\r\n"
        )
        self._idle: list[_Connection] = []
        self.closed = False

    def request(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
    ) -> tuple[int, bytes]:
        """Send one request; return the answer's status and (decoded) body."""
        timeout = self.timeout if timeout is None else timeout
        target = quote(self.prefix + path, safe="/%:@!$&'()*+,;=-._~")
        if params:
            target += "?" + urlencode(params)  # as httpx: spaces as +
        head = f"{method} {target} HTTP/1.1\r\n{self.head}"
        body = b""
        if json_body is not None:  # as httpx encodes ``json=``
            text = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            body = text.encode("utf-8")
            head += f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n"
        elif method in ("POST", "PUT", "PATCH"):
            head += "Content-Length: 0\r\n"
        request = (head + "\r\n").encode("latin-1") + body
        if self.closed:  # as httpx
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        conn = self._connection(timeout)
        try:
            status, content, keep = conn.exchange(request, method, timeout)
        except BaseException:
            conn.close()
            raise
        if keep:
            self._idle.append(conn)
        else:
            conn.close()
        return status, content

    def _connection(self, timeout: float) -> _Connection:
        while self._idle:
            try:
                conn = self._idle.pop()
            except IndexError:  # another thread took it
                break
            if conn.usable():
                return conn
            conn.close()
        return _Connection(self.host, self.port, timeout)

    def close(self) -> None:
        """Close the idle connections; no request may follow."""
        self.closed = True
        while self._idle:
            self._idle.pop().close()
