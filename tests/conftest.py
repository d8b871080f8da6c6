"""Shared fixtures: an in-memory span exporter and real-service requirements.

The global TracerProvider can be set once per process, so the session installs
one provider with a `SimpleSpanProcessor` into an `InMemorySpanExporter`; the
`spans` fixture clears it before each test and hands it over.

Services (PostgreSQL, MariaDB, Java for Spark) are real. Outside CI a missing
service skips its tests with the reason; under ``CI=true`` it fails them, so a
CI machine without the service can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))
trace.set_tracer_provider(_PROVIDER)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The in-memory exporter that receives every span of the test (cleared first)."""
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


@pytest.fixture(scope="session")
def tracer_provider() -> TracerProvider:
    return _PROVIDER


def require_service(name: str, reason: str) -> None:
    """Skip (outside CI) or fail (under CI=true) when a real service is missing."""
    message = f"{name} is not available: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true requires it)", pytrace=False)
    pytest.skip(message)


def tcp_open(host: str, port: int, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of the local PostgreSQL server's `test` database (psycopg 3)."""
    url = os.environ.get(
        "DATAOPS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    if not tcp_open("127.0.0.1", 5432):
        require_service("PostgreSQL", "nothing listens on 127.0.0.1:5432")
    return url


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """SQLAlchemy URL of the local MariaDB server's `test` database (PyMySQL)."""
    url = os.environ.get("DATAOPS_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
    if not tcp_open("127.0.0.1", 3306):
        require_service("MariaDB", "nothing listens on 127.0.0.1:3306")
    return url


@pytest.fixture(scope="session")
def java_home() -> str:
    """Java for the local Spark; required under CI."""
    java = shutil.which("java")
    if java is None and not os.environ.get("JAVA_HOME"):
        require_service("Java", "no `java` on PATH and JAVA_HOME unset")
    return os.environ.get("JAVA_HOME", "")
