"""Runs: `job()` opens the run root span and scopes every dataset span inside it.

The job name and run id are kept in a context variable as well as on the root
span, because ClickHouse materialized views see one span at a time: every
dataset span copies them (see `current_run`) so each dataset event row knows
its job and run without a join against a root span that may arrive later.
"""

from __future__ import annotations

import contextvars
import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from dataops_otel import semconv
from dataops_otel.version import __version__

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True)
class RunContext:
    """The job and run that the current code executes in."""

    job_name: str
    run_id: str

    def attributes(self) -> dict[str, AttributeValue]:
        return {semconv.DATAOPS_JOB_NAME: self.job_name, semconv.DATAOPS_RUN_ID: self.run_id}


_current_run: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar(
    "dataops_otel_current_run", default=None
)


def current_run() -> RunContext | None:
    """The run opened by the innermost enclosing `job()`, if any."""
    return _current_run.get()


class job:  # noqa: N801 - used like a function: `with job("x")` / `@job("x")`
    """Open a run of a named job as the root span of its dataset operations.

    Use as a context manager (``with dataops_otel.job("orders-daily"):``) or a
    decorator (``@dataops_otel.job("orders-daily")``). Each entry gets a fresh
    ``dataops.run.id``. An exception marks the run failed (status ERROR with
    the exception recorded) and is re-raised unchanged.
    """

    def __init__(self, name: str, **attributes: AttributeValue) -> None:
        self.name = name
        self.attributes = attributes

    @contextmanager
    def _run(self) -> Iterator[RunContext]:
        run = RunContext(job_name=self.name, run_id=uuid.uuid4().hex)
        tracer = trace.get_tracer("dataops_otel", __version__)
        attrs: dict[str, AttributeValue] = {
            **self.attributes,
            **run.attributes(),
            semconv.DATAOPS_RUN_ROOT: True,
        }
        with tracer.start_as_current_span(
            f"job {self.name}",
            attributes=attrs,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            token = _current_run.set(run)
            try:
                yield run
            except BaseException as exc:
                span.record_exception(exc)
                span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                raise
            else:
                span.set_status(Status(StatusCode.OK))
            finally:
                _current_run.reset(token)

    def __enter__(self) -> RunContext:
        self._cm = self._run()
        return self._cm.__enter__()

    def __exit__(self, *exc_info: Any) -> bool | None:
        return self._cm.__exit__(*exc_info)

    def __call__(self, func: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with self._run():
                return func(*args, **kwargs)

        return wrapper
