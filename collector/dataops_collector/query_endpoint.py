"""A read-only subset of ClickHouse's HTTP interface over the embedded engine.

chDB can be opened by one process only, so the collector lets the CLI, curl,
clickhouse-connect and Grafana's ClickHouse plugin (HTTP protocol) read the
data through this endpoint: ``GET /ping`` answers ``Ok.``; ``GET``/``POST /``
takes the query in the ``query`` parameter and/or the body, honours
``database`` and ``default_format`` and a ``FORMAT`` clause, and answers in
ClickHouse's own error shape (``Code: N. DB::Exception: ...`` and the
``X-ClickHouse-Exception-Code`` header).

Read-only is enforced by ClickHouse's own parser, not by pattern matching: the
query is parsed with ``EXPLAIN AST`` and refused (code 164, READONLY, HTTP 403)
unless its root is a SELECT/SHOW/DESCRIBE/EXISTS/EXPLAIN, it carries no
``SETTINGS`` (so the read-only setting cannot be lifted from inside the query;
``readonly`` URL parameters other than 1 are refused too), and it uses no table
function that reaches outside the database (``file``, ``url``, ``s3``,
``remote``, ``Python``...). Inserts keep running while queries are served;
the store serialises access to the engine.
"""

from __future__ import annotations

import base64
import hmac
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dataops_collector.http_response import respond
from dataops_collector.storage.base import Store
from dataops_collector.storage.errors import StorageError

_logger = logging.getLogger(__name__)

READONLY = 164
AUTHENTICATION_FAILED = 516
SYNTAX_ERROR = 62
_ALLOWED_ROOTS = (
    "SelectWithUnionQuery",
    "SelectQuery",
    "ShowTablesQuery",
    "ShowCreateTableQuery",
    "ShowColumnsQuery",
    "DescribeQuery",
    "ExistsTableQuery",
    "ExplainQuery",
    "ShowProcesslistQuery",
)
_OUTSIDE_FUNCTIONS = {
    "file",
    "url",
    "s3",
    "s3cluster",
    "gcs",
    "hdfs",
    "remote",
    "remotesecure",
    "cluster",
    "clusterallreplicas",
    "mysql",
    "postgresql",
    "sqlite",
    "jdbc",
    "odbc",
    "mongodb",
    "redis",
    "executable",
    "python",
    "input",
    "azureblobstorage",
    "deltalake",
    "iceberg",
    "hudi",
    "filecluster",
    "urlcluster",
    "arrowflight",
    "ytsaurus",
}
_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.IGNORECASE)
_CONTENT_TYPES = {
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8",
    "CSVWithNames": "text/csv; charset=UTF-8",
}


class QueryRefused(Exception):
    def __init__(self, code: int, name: str, message: str, http_status: int) -> None:
        super().__init__(message)
        self.code, self.name, self.http_status = code, name, http_status


def check_read_only(store: Store, query: str, parameters: dict[str, str] | None = None) -> None:
    """Raise `QueryRefused` unless `query` only reads, by ClickHouse's own parse."""
    try:
        sql = f"EXPLAIN AST {query.rstrip().rstrip(';')}"
        ast = store.query_bytes(sql, fmt="TSV", parameters=parameters).decode()
    except StorageError as exc:
        raise QueryRefused(SYNTAX_ERROR, "SYNTAX_ERROR", _clean(str(exc)), 400) from exc
    lines = [line.strip() for line in ast.splitlines() if line.strip()]
    root = lines[0].split(" ")[0] if lines else ""
    if root not in _ALLOWED_ROOTS:
        raise QueryRefused(
            READONLY,
            "READONLY",
            f"{root or 'this'} is not a read query: the query endpoint is read-only",
            403,
        )
    for line in lines:
        if line.startswith("Set"):
            raise QueryRefused(
                READONLY,
                "READONLY",
                "SETTINGS are not allowed in queries to the read-only endpoint",
                403,
            )
        if line.startswith("Function "):
            name = line.split(" ")[1].lower()
            if name in _OUTSIDE_FUNCTIONS:
                raise QueryRefused(
                    READONLY,
                    "READONLY",
                    f"table function {name}() is not allowed on the read-only endpoint",
                    403,
                )


def _clean(message: str) -> str:
    return re.sub(r"^Code: \d+\. DB::Exception: ", "", message.strip())


class QueryEndpoint:
    """The HTTP listener; `port` is the bound port (0 asks for a free one)."""

    def __init__(
        self,
        store: Store,
        *,
        host: str,
        port: int,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        handler = _handler_class(store, user, password)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.address = f"{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="query-endpoint", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_class(store: Store, user: str | None, password: str | None) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            _logger.debug("query-endpoint %s", format % args)

        def do_GET(self) -> None:
            self._handle(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._handle(self.rfile.read(length) if length else b"")

        def _handle(self, body: bytes) -> None:
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            if url.path in {"/ping", "/"} and not params.get("query") and not body:
                self._send(200, "text/plain; charset=UTF-8", b"Ok.\n")
                return
            if url.path != "/":
                self._send(404, "text/plain; charset=UTF-8", b"Not found.\n")
                return
            try:
                self._authenticate(params)
                query = " ".join(p for p in (params.get("query", ""), body.decode()) if p).strip()
                if params.get("readonly", "1") not in {"1", ""}:
                    raise QueryRefused(
                        READONLY,
                        "READONLY",
                        "readonly cannot be changed: the query endpoint is read-only",
                        403,
                    )
                query_params = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
                check_read_only(store, query, query_params or None)
                fmt = _output_format(query, params.get("default_format") or "TabSeparated")
                if _FORMAT_CLAUSE.search(query) is None:
                    query = f"{query.rstrip().rstrip(';')} FORMAT {fmt}"
                result = store.query_bytes(query, fmt=fmt, parameters=query_params or None)
            except QueryRefused as exc:
                self._error(exc.http_status, exc.code, exc.name, str(exc))
                return
            except StorageError as exc:
                code = re.match(r"Code: (\d+)", str(exc))
                self._error(500, int(code[1]) if code else 1002, "", _clean(str(exc)))
                return
            content_type = _CONTENT_TYPES.get(fmt, "text/plain; charset=UTF-8")
            if fmt in {"Native", "RowBinary", "RowBinaryWithNamesAndTypes", "Arrow", "Parquet"}:
                content_type = "application/octet-stream"
            self._send(200, content_type, result, {"X-ClickHouse-Format": fmt})

        def _authenticate(self, params: dict[str, str]) -> None:
            if user is None:
                return
            given_user = self.headers.get("X-ClickHouse-User") or params.get("user")
            given_password = self.headers.get("X-ClickHouse-Key") or params.get("password", "")
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                decoded = base64.b64decode(auth[6:]).decode(errors="replace")
                given_user, _, given_password = decoded.partition(":")
            user_ok = hmac.compare_digest((given_user or "").encode(), user.encode())
            password_ok = hmac.compare_digest(
                (given_password or "").encode(), (password or "").encode()
            )
            if not (user_ok and password_ok):
                raise QueryRefused(
                    AUTHENTICATION_FAILED,
                    "AUTHENTICATION_FAILED",
                    f"{given_user or 'default'}: Authentication failed: password is incorrect, "
                    "or there is no user with such name",
                    401,
                )

        def _error(self, status: int, code: int, name: str, message: str) -> None:
            suffix = f" ({name})" if name else ""
            text = f"Code: {code}. DB::Exception: {message}.{suffix}\n".replace("..", ".")
            self._send(
                status,
                "text/plain; charset=UTF-8",
                text.encode(),
                {"X-ClickHouse-Exception-Code": str(code)},
            )

        def _send(
            self, code: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
        ) -> None:
            respond(self, code, content_type, body, headers)

    return Handler


def _output_format(query: str, default: str) -> str:
    match = _FORMAT_CLAUSE.search(query)
    return match[1] if match else default
