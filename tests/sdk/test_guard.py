"""The guard: instrumentation failures are swallowed, counted and logged once per kind."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from dataops_otel import guard


@pytest.fixture(autouse=True)
def _fresh_guard() -> Iterator[None]:
    guard.reset_for_tests()
    yield
    guard.reset_for_tests()


def _guard_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "dataops_otel"]


def test_guarded_swallows_and_logs_once_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dataops_otel")
    reached_after: list[int] = []
    for i in range(5):
        with guard.guarded("test.kind"):
            raise KeyError(f"boom {i}")
        reached_after.append(i)
    with guard.guarded("test.other"):
        raise TypeError("other")

    assert reached_after == [0, 1, 2, 3, 4]
    records = _guard_records(caplog)
    assert len(records) == 2
    assert "test.kind" in records[0].getMessage()
    assert "KeyError" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert "test.other" in records[1].getMessage()
    assert guard.failure_counts == {"test.kind": 5, "test.other": 1}


def test_guarded_lets_the_block_finish_normally() -> None:
    done = []
    with guard.guarded("test.ok"):
        done.append(1)
    assert done == [1]
    assert guard.failure_counts == {}


def test_guarded_does_not_swallow_base_exceptions() -> None:
    with pytest.raises(KeyboardInterrupt), guard.guarded("test.interrupt"):
        raise KeyboardInterrupt
    assert guard.failure_counts == {}


def test_call_guarded_returns_result_or_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dataops_otel")
    assert guard.call_guarded("test.call", lambda: 42, -1) == 42

    def broken() -> int:
        raise ZeroDivisionError("x")

    assert guard.call_guarded("test.call", broken, -1) == -1
    assert guard.call_guarded("test.call", broken, -1) == -1
    assert guard.failure_counts == {"test.call": 2}
    assert len(_guard_records(caplog)) == 1


def test_reset_logs_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dataops_otel")
    guard.log_once("test.reset", RuntimeError("a"))
    guard.reset_for_tests()
    guard.log_once("test.reset", RuntimeError("b"))
    assert len(_guard_records(caplog)) == 2
    assert guard.failure_counts == {"test.reset": 1}


class _BrokenTracer:
    """A tracer whose own span creation fails (a broken SDK or processor)."""

    def start_span(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("tracer is broken")


def test_a_failing_tracer_never_stops_the_operation() -> None:
    from opentelemetry import trace

    from dataops_otel.operation import dataset_operation

    broken: Any = _BrokenTracer()
    with dataset_operation(broken, "op", "read", kind="test.tracer") as op:
        op.add_input("file:///x")
        op.set_rows(3)
        ran = True
    assert ran and op.span is trace.INVALID_SPAN
    assert guard.failure_counts == {"test.tracer.start_span": 1}
    with pytest.raises(ValueError), dataset_operation(broken, "op", "read", kind="test.tracer"):
        raise ValueError("the host call's own error still propagates")
