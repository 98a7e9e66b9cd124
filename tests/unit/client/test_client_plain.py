"""``Client``'s stdlib HTTP path (``bacalao.client._plain``) against a scripted socket server.

Each scenario runs twice: on the plain path (``Client(api)``) and on httpx
(``Client(api, transport=httpx.HTTPTransport())``), and both must give the same answer or error.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from bacalao.client import Client, _plain
from bacalao.errors import BacalaoError, NotFound, Unavailable

JOBS = "/api/v1/orchestrator/jobs"
Reply = Callable[[bytes], bytes | None]


class RawServer:
    """Answers each request on a connection with ``reply(request)``'s bytes (None: hang up)."""

    def __init__(self, reply: Reply, *, close_after: bool = False) -> None:
        self.reply = reply
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.accepted = 0
        self.conns: list[socket.socket] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.api = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + reader.read(length)
                self.requests.append(request)
                answer = self.reply(request)
                if answer is None:
                    return
                conn.sendall(answer)
                if self.close_after:
                    return
        except OSError:
            return
        finally:
            reader.close()
            conn.close()

    def drop_idle(self) -> None:
        """Hang up every connection (as a server does with idle keep-alive ones)."""
        for conn in self.conns:
            conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.sock.close()


def answer(status: int, body: bytes, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def json_answer(data: object, status: int = 200) -> bytes:
    return answer(status, json.dumps(data).encode(), "Content-Type: application/json")


PAGE = {"Items": [{"ID": "j-1", "Type": "batch"}], "NextToken": "t2"}


@pytest.fixture(params=["plain", "httpx"])
def connect(request: pytest.FixtureRequest) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(api: str, **kwargs: object) -> Client:
        if request.param == "httpx":
            kwargs["transport"] = httpx.HTTPTransport()
        client = Client(api, **kwargs)  # type: ignore[arg-type]
        assert (client._plain is not None) == (request.param == "plain")
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def servers() -> Iterator[list[RawServer]]:
    started: list[RawServer] = []
    yield started
    for server in started:
        server.close()


def serve(servers: list[RawServer], reply: Reply, **kwargs: bool) -> RawServer:
    server = RawServer(reply, **kwargs)
    servers.append(server)
    return server


def test_request_as_sent_and_answer_as_read(connect, servers) -> None:
    server = serve(servers, lambda r: json_answer(PAGE))
    client = connect(server.api + "/prefix")
    page = client.list_jobs(limit=5, labels={"team": "a b"}, reverse=True)
    assert page.raw == PAGE["Items"] and page.next_token == "t2"
    line, *headers = server.requests[-1].split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert line == (f"GET /prefix{JOBS}?limit=5&reverse=true&labels=team%3Da+b HTTP/1.1")
    assert f"Host: {server.api.removeprefix('http://')}" in headers


def test_json_body_as_httpx_encodes_it(connect, servers) -> None:
    server = serve(servers, lambda r: json_answer({"JobID": "j-1", "EvaluationID": "e"}))
    result = connect(server.api).submit({"Name": "ç", "Tasks": []})
    assert result.job_id == "j-1"
    head, body = server.requests[-1].split(b"\r\n\r\n", 1)
    assert head.startswith(b"PUT " + JOBS.encode() + b" HTTP/1.1")
    assert b"Content-Type: application/json" in head.split(b"\r\n")
    assert body == '{"Job":{"Name":"ç","Tasks":[]}}'.encode()


def test_chunked_answer(connect, servers) -> None:
    data = json.dumps(PAGE).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (data[:7], data[7:])) + b"0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    server = serve(servers, lambda r: head + chunks)
    assert connect(server.api).list_jobs().raw == PAGE["Items"]


def test_gzip_answer(connect, servers) -> None:
    body = gzip.compress(json.dumps(PAGE).encode())
    server = serve(servers, lambda r: answer(200, body, "Content-Encoding: gzip"))
    assert connect(server.api).list_jobs().raw == PAGE["Items"]


def test_one_connection_is_kept_alive(connect, servers) -> None:
    server = serve(servers, lambda r: json_answer(PAGE))
    client = connect(server.api)
    for _ in range(3):
        client.list_jobs()
    assert server.accepted == 1 and len(server.requests) == 3


def test_a_connection_the_server_dropped_is_not_reused(connect, servers) -> None:
    server = serve(servers, lambda r: json_answer(PAGE))
    client = connect(server.api)
    client.list_jobs()
    server.drop_idle()
    assert client.list_jobs().raw == PAGE["Items"]
    assert server.accepted == 2


def test_an_answer_ended_by_the_connection(connect, servers) -> None:
    data = json.dumps(PAGE).encode()
    server = serve(servers, lambda r: b"HTTP/1.0 200 OK\r\n\r\n" + data, close_after=True)
    client = connect(server.api)
    assert client.list_jobs().raw == PAGE["Items"]
    assert client.list_jobs().raw == PAGE["Items"]
    assert server.accepted == 2


def test_streams_go_through_httpx_on_either_path(connect, servers) -> None:
    lines = b'{"Type":1,"Line":"hi\\n"}\n{"Type":2,"Line":"oops\\n"}\n'
    server = serve(
        servers, lambda r: json_answer(PAGE) if b"/logs" not in r else answer(200, lines)
    )
    client = connect(server.api)
    assert client.list_jobs().raw == PAGE["Items"]
    assert [(x.stream, x.text) for x in client.logs("j-1")] == [
        ("stdout", "hi\n"),
        ("stderr", "oops\n"),
    ]


def test_a_closed_client_sends_nothing(connect, servers) -> None:
    server = serve(servers, lambda r: json_answer(PAGE))
    client = connect(server.api)
    client.list_jobs()
    client.close()
    with pytest.raises(RuntimeError, match="client has been closed"):
        client.list_jobs()
    with pytest.raises(RuntimeError, match="client has been closed"):
        list(client.logs("j-1"))
    assert len(server.requests) == 1


def test_error_answers_keep_the_servers_words(connect, servers) -> None:
    body = {"code": "not_found", "message": "job j-9 not found", "hint": "list them"}
    server = serve(servers, lambda r: json_answer(body, 404))
    with pytest.raises(NotFound) as info:
        connect(server.api).get_job("j-9")
    assert info.value.message == "job j-9 not found" and info.value.hint == "list them"
    server.reply = lambda r: answer(502, b"<html>Bad Gateway</html>")
    with pytest.raises(BacalaoError, match="HTTP 502: <html>Bad Gateway"):
        connect(server.api).alive()


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (lambda r: None, "Server disconnected without sending a response."),
        (
            lambda r: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            "peer closed connection without sending complete message body",
        ),
    ],
)
def test_broken_answers_are_unavailable(connect, servers, reply: Reply, words: str) -> None:
    server = serve(servers, reply, close_after=True)
    with pytest.raises(Unavailable) as info:
        connect(server.api).list_jobs()
    assert words in info.value.message and server.api in info.value.message
    assert info.value.retryable and "BACALAO_API" in (info.value.hint or "")


def test_no_answer_in_time(connect, servers) -> None:
    gate = threading.Event()
    server = serve(servers, lambda r: None if gate.wait(5) else None)
    try:
        with pytest.raises(Unavailable, match="no answer in time"):
            connect(server.api, timeout=0.2).list_jobs()
    finally:
        gate.set()


def test_refused(connect) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unavailable) as info:
        connect(f"127.0.0.1:{port}", timeout=2).alive()
    assert info.value.message == (
        f"cannot reach the bacalao API at http://127.0.0.1:{port}: connection refused"
    )


@pytest.mark.parametrize(
    "api",
    [
        "https://127.0.0.1:1234",
        "http://user:pw@127.0.0.1:1234",
        "http://127.0.0.1:1234?x=1",
        "http://bäcalao.example",
        "http://127.0.0.1:99999",
    ],
)
def test_what_the_plain_path_leaves_to_httpx(api: str) -> None:
    assert not _plain.fits(api)


@pytest.mark.parametrize("var", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_a_proxy_in_the_environment_goes_through_httpx(
    monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    assert _plain.fits("http://127.0.0.1:1234")
    monkeypatch.setenv(var, "http://proxy.example:3128")
    assert not _plain.fits("http://127.0.0.1:1234")
    with Client("http://127.0.0.1:1234") as client:
        assert client._plain is None
    monkeypatch.setenv(var, "")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")  # not for an http:// API
    assert _plain.fits("http://127.0.0.1:1234")
