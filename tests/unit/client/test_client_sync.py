"""``Client`` over ``httpx.MockTransport``: requests as built, answers as parsed, errors as raised.

``test_client_async.py`` runs the same scenarios against ``AsyncClient``.
"""

from __future__ import annotations

import httpx
import pytest
from tests.unit.client.mock_api import JOB, MockAPI, error

from bacalao.client import Client, LogLine, Page, SubmitResult
from bacalao.errors import (
    BacalaoError,
    BlockNotFound,
    Conflict,
    DecodeError,
    InvalidInput,
    NotFound,
    Unavailable,
)
from bacalao.models import ExecutionStateType, Job, JobStateType, parse_job

JOB_ID = JOB["ID"]
JOBS = "/api/v1/orchestrator/jobs"


@pytest.fixture
def mock() -> MockAPI:
    return MockAPI()


@pytest.fixture
def client(mock: MockAPI) -> Client:
    return Client("http://api.test:1234", transport=httpx.MockTransport(mock))


def test_alive_and_version(client: Client) -> None:
    assert client.alive() is True
    assert client.version()["GitVersion"] == "v1.4.0"


def test_submit_a_model_and_a_dict(client: Client, mock: MockAPI) -> None:
    job = parse_job({"Type": "batch", "Tasks": [{"Name": "main", "Engine": {"Type": "noop"}}]})
    result = client.submit(job)
    assert result == SubmitResult(JOB_ID, "ev-1", [])
    assert mock.last.method == "PUT" and mock.last.url.path == JOBS
    assert mock.last_json() == {"Job": job.to_wire()}
    client.submit({"Type": "batch", "Tasks": []})
    assert mock.last_json() == {"Job": {"Type": "batch", "Tasks": []}}


def test_get_and_describe(client: Client, mock: MockAPI) -> None:
    job = client.get_job(JOB_ID)
    assert isinstance(job, Job) and job.state_type is JobStateType.COMPLETED
    described = client.describe_job(JOB_ID)
    assert mock.last.url.params["include"] == "executions,history"
    assert described.state == "Completed"
    (execution,) = described.executions
    assert execution.state is ExecutionStateType.COMPLETED
    assert execution.run_output is not None and execution.run_output.stdout == "Hello World\n"
    (entry,) = described.history
    assert entry.execution_state is not None
    assert (entry.execution_state.previous, entry.execution_state.new) == (
        ExecutionStateType.from_bacalhau_code(5).value,
        "Completed",
    )
    assert entry.time == 1719930421_100000000
    assert described.raw["Job"]["ID"] == JOB_ID


def test_list_jobs_query_and_lazy_page(client: Client, mock: MockAPI) -> None:
    page = client.list_jobs()
    assert mock.last.url.query == b""
    assert isinstance(page, Page) and len(page) == 1
    assert page.raw[0]["ID"] == JOB_ID and page.next_token == "Y3JlYXRlZF9hdDpOOjE6MQ"
    assert "items" not in page.__dict__  # not parsed until asked
    assert page.items[0].id == JOB_ID and [j.id for j in page] == [JOB_ID]
    client.list_jobs(
        limit=5, next_token="tok", order_by="modified_at", reverse=True, namespace="*",
        labels={"a": "b", "c": "d"},
    )  # fmt: skip
    assert dict(mock.last.url.params) == {
        "limit": "5", "next_token": "tok", "order_by": "modified_at", "reverse": "true",
        "namespace": "*", "labels": "a=b,c=d",
    }  # fmt: skip


def test_stop_sends_the_reason_both_ways(client: Client, mock: MockAPI) -> None:
    assert client.stop_job(JOB_ID, "bye") == "ev-2"
    assert mock.last.method == "DELETE"
    assert mock.last.url.params["reason"] == "bye"
    assert mock.last_json() == {"reason": "bye"}
    client.stop_job(JOB_ID)
    assert mock.last.url.query == b"" and mock.last.content == b""


def test_executions_history_results(client: Client, mock: MockAPI) -> None:
    assert client.executions(JOB_ID).items[0].node_id == "n-c0f"
    history = client.history(JOB_ID, event_type="execution", node_id="n-c0f", since_seq=3)
    assert dict(mock.last.url.params) == {
        "event_type": "execution", "node_id": "n-c0f", "since_seq": "3",
    }  # fmt: skip
    assert history.items[0].event.message == "done"
    client.history(JOB_ID)
    assert mock.last.url.query == b""
    (result,) = client.results(JOB_ID)
    assert result.type == "ipfs" and result.params["CID"].startswith("Qm")


def test_wait_and_wait_for(client: Client, mock: MockAPI) -> None:
    result = client.wait(JOB_ID, since=3, timeout=2.5)
    assert dict(mock.last.url.params) == {"since": "3", "timeout": "2.5"}
    assert result.seq == 9 and result.is_terminal and result.state == "Completed"
    assert result.executions[0].state is ExecutionStateType.COMPLETED
    seen = []
    final = client.wait_for(JOB_ID, on_update=seen.append)
    assert final.job.id == JOB_ID and seen == [final]


def test_wait_for_gives_up_after_its_timeout(client: Client, mock: MockAPI) -> None:
    running = {**JOB, "State": {"StateType": "Running"}}
    mock.on(
        "GET",
        f"{JOBS}/{JOB_ID}/wait",
        lambda r: httpx.Response(200, json={"Seq": 1, "Job": running}),
    )
    with pytest.raises(BacalaoError) as info:
        client.wait_for(JOB_ID, timeout=0.01)
    assert info.value.code == "wait_timeout" and info.value.retryable
    assert "job describe" in (info.value.hint or "")


def test_logs_stream(client: Client) -> None:
    lines = list(client.logs(JOB_ID, follow=True))
    assert lines == [
        LogLine("stdout", "Hello "),
        LogLine("stderr", "warn\n"),
        LogLine("stdout", "World\n"),
    ]


def test_logs_error_line_raises(client: Client, mock: MockAPI) -> None:
    late = b'{"code": "unavailable", "message": "node gone", "hint": "retry"}'
    body = b'{"Type": 1, "Line": "a"}\n{"Type": 0, "Line": "", "error": ' + late + b"}\n"
    mock.on("GET", f"{JOBS}/{JOB_ID}/logs", lambda r: httpx.Response(200, content=body))
    stream = client.logs(JOB_ID)
    assert next(stream) == LogLine("stdout", "a")
    with pytest.raises(Unavailable, match="node gone"):
        next(stream)


def test_logs_error_status_raises_before_streaming(client: Client, mock: MockAPI) -> None:
    mock.on(
        "GET", f"{JOBS}/{JOB_ID}/logs", lambda r: error(404, "not_found", "no execution", "wait")
    )
    with pytest.raises(NotFound, match="no execution"):
        list(client.logs(JOB_ID))


def test_nodes(client: Client) -> None:
    (node,) = client.list_nodes()
    assert node.id == "n-c0f" and node.engines == ["docker", "wasm"]
    assert node.total.cpu == 8 and node.gpus[0].model == "H100"
    assert node.version == "1.4.0" and node.running_executions == 1
    assert client.get_node("n-c0f").available.cpu == 6


@pytest.mark.parametrize(
    ("response", "cls", "code"),
    [
        (error(404, "not_found", "job j-1 not found", "list jobs"), NotFound, "not_found"),
        (error(404, "block_not_found", "block Qm.. not found"), BlockNotFound, "block_not_found"),
        (error(409, "something_new", "clash"), Conflict, "something_new"),
        (error(400, "decode", "bad CID"), DecodeError, "decode"),
        (error(418, "teapot", "short and stout"), BacalaoError, "teapot"),
        (error(503, "unavailable", "docker down", "start it"), Unavailable, "unavailable"),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), BacalaoError, "internal"),
        (
            httpx.Response(500, json={"message": "Internal Server Error", "error": "x"}),
            BacalaoError,
            "internal",
        ),
    ],
)
def test_errors_become_bacalao_errors(
    client: Client, mock: MockAPI, response: httpx.Response, cls: type, code: str
) -> None:
    mock.on("GET", f"{JOBS}/{JOB_ID}", lambda r: response)
    with pytest.raises(cls) as info:
        client.get_job(JOB_ID)
    err = info.value
    assert type(err) is cls and err.code == code
    assert err.http_status == response.status_code
    if response.headers["content-type"].startswith("application/json"):
        assert err.message == response.json()["message"]
        assert err.hint == response.json().get("hint")
    else:
        assert "502" in err.message and "Bad Gateway" in err.message
    assert err.retryable == (response.status_code == 503)


def test_malformed_answer(client: Client, mock: MockAPI) -> None:
    mock.on("GET", "/api/v1/agent/alive", lambda r: httpx.Response(200, text="OK but not JSON"))
    with pytest.raises(BacalaoError, match="malformed answer") as info:
        client.alive()
    assert info.value.code == "protocol"


@pytest.mark.parametrize(
    ("exc", "fragment"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused"),
        (httpx.ConnectTimeout("timed out"), "no answer in time"),
        (httpx.ReadTimeout("timed out"), "no answer in time"),
        (httpx.RemoteProtocolError("peer closed"), "peer closed"),
    ],
)
def test_transport_errors_are_unavailable(exc: Exception, fragment: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    transport = httpx.MockTransport(handler)
    with (
        Client("http://api.test:1234", transport=transport) as client,
        pytest.raises(Unavailable) as info,
    ):
        client.list_jobs()
    assert fragment in info.value.message and "http://api.test:1234" in info.value.message
    assert "bacalao serve" in (info.value.hint or "") and "BACALAO_API" in (info.value.hint or "")
    assert info.value.retryable


def test_really_refused_connection() -> None:
    with Client("127.0.0.1:9", timeout=2) as client, pytest.raises(Unavailable) as info:
        client.alive()
    assert info.value.message.startswith("cannot reach the bacalao API at http://127.0.0.1:9")


def test_api_from_argument_env_or_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACALAO_API", raising=False)
    assert Client().api == "http://127.0.0.1:1234"
    monkeypatch.setenv("BACALAO_API", "node7:4000/")
    assert Client().api == "http://node7:4000"
    assert Client("https://x.example/").api == "https://x.example"


def test_blank_job_id_is_invalid(client: Client) -> None:
    with pytest.raises(InvalidInput):
        client.get_job("  ")


def test_ids_are_quoted(client: Client, mock: MockAPI) -> None:
    with pytest.raises(NotFound):
        client.get_job("j-1/../../agent/alive")
    assert mock.last.url.raw_path.startswith(b"/api/v1/orchestrator/jobs/j-1%2F..%2F")
