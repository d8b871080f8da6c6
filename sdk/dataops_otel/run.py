"""Runs: `job()` opens the run root span and scopes every dataset span inside it.

The job name and run id are kept in a context variable as well as on the root
span, because ClickHouse materialized views see one span at a time: every
dataset span copies them (see `current_run`) so each dataset event row knows
its job and run without a join against a root span that may arrive later.

A `job` object holds only its name and attributes; the state of an open run
lives in context variables, so one object can be entered again, nested in
itself, or used by several threads or asyncio tasks at once, and each entry is
a separate run with its own id. Like the OpenTelemetry context, the run does
not follow code into a new ``threading.Thread`` (threads start with an empty
context); run such code with ``contextvars.copy_context().run``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from dataops_otel import semconv
from dataops_otel.guard import guarded
from dataops_otel.version import __version__

_P = ParamSpec("_P")
_R = TypeVar("_R")

_STATUS_MESSAGE_MAX = 1024


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

_OpenRun = tuple["job", AbstractContextManager[RunContext]]
_open_runs: contextvars.ContextVar[tuple[_OpenRun, ...]] = contextvars.ContextVar(
    "dataops_otel_open_runs", default=()
)


def current_run() -> RunContext | None:
    """The run opened by the innermost enclosing `job()`, if any."""
    return _current_run.get()


class job:
    """Open a run of a named job as the root span of its dataset operations.

    Use as a context manager (``with dataops_otel.job("orders-daily") as run:``),
    an async context manager, or a decorator of a function or coroutine
    function (``@dataops_otel.job("orders-daily")``). Each entry is a new run
    with a fresh ``dataops.run.id``; `attributes` are set on the root span.
    A nested job is a run of its own (a child span): dataset spans inside it
    carry the innermost job.

    An exception marks the run failed (status ERROR, ``error.type``, the
    exception recorded) and is re-raised unchanged; ``SystemExit`` with code 0
    or None counts as success.
    """

    def __init__(self, name: str, **attributes: AttributeValue) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a job needs a non-empty name, got {name!r}")
        self.name = name
        self.attributes = attributes

    def __repr__(self) -> str:
        return f"job({self.name!r})"

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
                if _is_clean_exit(exc):
                    _set_status(span, StatusCode.OK)
                else:
                    _mark_run_failed(span, exc)
                raise
            else:
                _set_status(span, StatusCode.OK)
            finally:
                _current_run.reset(token)

    def __enter__(self) -> RunContext:
        manager = self._run()
        run = manager.__enter__()
        _open_runs.set((*_open_runs.get(), (self, manager)))
        return run

    def __exit__(self, *exc_info: Any) -> bool | None:
        return self._pop_open_run().__exit__(*exc_info)

    async def __aenter__(self) -> RunContext:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return self.__exit__(*exc_info)

    def _pop_open_run(self) -> AbstractContextManager[RunContext]:
        """The innermost open run of this object in the current context."""
        stack = _open_runs.get()
        for index in range(len(stack) - 1, -1, -1):
            owner, manager = stack[index]
            if owner is self:
                _open_runs.set(stack[:index] + stack[index + 1 :])
                return manager
        raise RuntimeError(f"{self!r} exited without a matching entry in this context")

    def __call__(self, func: Callable[_P, _R]) -> Callable[_P, _R]:
        if inspect.iscoroutinefunction(func):
            return cast(Callable[_P, _R], self._wrap_coroutine_function(func))

        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with self._run():
                return func(*args, **kwargs)

        return wrapper

    def _wrap_coroutine_function(self, func: Callable[_P, Any]) -> Callable[_P, Any]:
        @functools.wraps(func)
        async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
            with self._run():
                return await func(*args, **kwargs)

        return wrapper


def _is_clean_exit(exc: BaseException) -> bool:
    return isinstance(exc, SystemExit) and exc.code in (0, None)


def _set_status(span: Span, code: StatusCode) -> None:
    with guarded("run.status"):
        span.set_status(Status(code))


def _mark_run_failed(span: Span, exc: BaseException) -> None:
    with guarded("run.mark_failed"):
        span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, _status_message(exc)))
        span.record_exception(exc)


def _status_message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}"[:_STATUS_MESSAGE_MAX]
