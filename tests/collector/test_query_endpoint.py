"""The read-only ClickHouse HTTP subset: formats, parameters, refusals, auth."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import clickhouse_connect
import pytest

from dataops_collector.app import Collector
from tests.collector.otlp import running_collector


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with running_collector(
        tmp_path_factory.mktemp("endpoint"), query_user="grafana", query_password="s3cret"
    ) as running:
        yield running


def call(
    collector: Collector,
    query: str | None = None,
    *,
    body: bytes | None = None,
    params: dict[str, str] | None = None,
    auth: tuple[str, str] | None = ("grafana", "s3cret"),
    path: str = "/",
) -> tuple[int, bytes, dict[str, str]]:
    fields = dict(params or {})
    if query is not None:
        fields["query"] = query
    url = f"http://127.0.0.1:{collector.query_port}{path}?{urllib.parse.urlencode(fields)}"
    request = urllib.request.Request(url, data=body)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_ping(collector: Collector) -> None:
    assert call(collector, path="/ping", auth=None)[:2] == (200, b"Ok.\n")


def test_formats_database_and_parameters(collector: Collector) -> None:
    status, body, _ = call(collector, "SELECT 1 AS one FORMAT JSONCompact")
    assert status == 200 and json.loads(body)["data"] == [[1]]
    status, body, _ = call(collector, "SELECT 2 AS two", params={"default_format": "CSV"})
    assert (status, body) == (200, b"2\n")
    status, body, _ = call(collector, body=b"SELECT {n:UInt8} + 1", params={"param_n": "41"})
    assert (status, body) == (200, b"42\n")


@pytest.mark.parametrize(
    "query",
    [
        "INSERT INTO otel_traces (SpanId) VALUES ('x')",
        "DROP TABLE otel_traces",
        "ALTER TABLE otel_traces DELETE WHERE 1",
        "SET readonly = 0",
        "SELECT 1 SETTINGS readonly = 0",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:1/', 'CSV', 'a String')",
        "CREATE TABLE x (a UInt8) ENGINE = Memory",
    ],
)
def test_anything_but_a_read_is_refused_in_clickhouse_shape(
    collector: Collector, query: str
) -> None:
    status, body, headers = call(collector, query)
    assert status == 403
    assert headers["X-ClickHouse-Exception-Code"] == "164"
    assert body.startswith(b"Code: 164. DB::Exception:") and b"(READONLY)" in body


def test_readonly_cannot_be_lifted_by_url_parameter(collector: Collector) -> None:
    status, _, headers = call(collector, "SELECT 1", params={"readonly": "0"})
    assert status == 403 and headers["X-ClickHouse-Exception-Code"] == "164"


def test_bad_sql_is_a_syntax_error(collector: Collector) -> None:
    status, body, _ = call(collector, "SELEC 1")
    assert status == 400 and body.startswith(b"Code: 62.")


def test_basic_auth_and_clickhouse_headers(collector: Collector) -> None:
    assert call(collector, "SELECT 1", auth=None)[0] == 401
    assert call(collector, "SELECT 1", auth=("grafana", "wrong"))[0] == 401
    status, body, _ = call(
        collector, "SELECT 1", auth=None, params={"user": "grafana", "password": "s3cret"}
    )
    assert (status, body) == (200, b"1\n")


def test_clickhouse_connect_client(collector: Collector) -> None:
    client = clickhouse_connect.get_client(
        host="127.0.0.1", port=collector.query_port, username="grafana", password="s3cret"
    )
    assert client.query("SELECT count() FROM otel_traces").result_rows == [(0,)]
    with pytest.raises(Exception, match="READONLY"):
        client.command("DROP TABLE otel_traces")
