"""One way to write an HTTP response from a stdlib request handler (both HTTP endpoints)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


def respond(
    handler: BaseHTTPRequestHandler,
    status: int,
    content_type: str,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)
