"""One dataset operation = one span with the dataops attributes.

Every instrumentor (pandas, SQLAlchemy, Spark) and the manual `record()` API
open their spans through `dataset_operation`, so the attribute set, the CPU
accounting, the run scoping and the error handling are the same everywhere.

The pattern inside a wrapper::

    with dataset_operation(tracer, "pandas.read_csv", OPERATION_READ,
                           kind="pandas.read_csv") as op:
        op.add_input(dataset_id)          # facts gathered before the call
        result = wrapped(*args, **kwargs) # the host call: its exception propagates
        op.set_rows(len(result))          # facts gathered after the call

`DatasetOperation`'s setters never raise: they run under the guard. The host
call's exception marks the span failed (``error.type``, status ERROR) and then
propagates unchanged.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from dataops_otel import semconv
from dataops_otel.guard import log_once
from dataops_otel.run import current_run
from dataops_otel.schema import Schema

_nested: contextvars.ContextVar[bool] = contextvars.ContextVar("dataops_nested", default=False)


def in_nested_scope() -> bool:
    """True inside an operation whose inner spans must be marked ``dataops.nested``."""
    return _nested.get()


@contextmanager
def nested_scope() -> Iterator[None]:
    """Mark the dataset spans opened inside (e.g. ``to_sql``'s INSERTs) as nested,
    so derived tables count the enclosing operation's write once."""
    token = _nested.set(True)
    try:
        yield
    finally:
        _nested.reset(token)


class DatasetOperation:
    """One dataset operation: its span (current inside the ``with`` block) and its facts.

    Made by `dataset_operation`; entering starts the span, leaving writes the
    buffered facts with one ``set_attributes`` call and ends it. Each
    ``set_attribute`` on an SDK span takes a lock and validates, and a tiny
    ``read_csv`` pays for every layer, so this is one plain object rather than
    ``@contextmanager`` around ``start_as_current_span`` (a generator, two more
    context managers and a second context lookup per call). Inputs and outputs
    are de-duplicated and keep their first-seen order. If the tracer itself
    fails, the block still runs, with a non-recording span.
    """

    __slots__ = ("_attrs", "_cpu_clock", "_cpu_start", "_name", "_span_kind", "_token",
                 "_tracer", "inputs", "kind", "outputs", "span")  # fmt: skip

    def __init__(
        self,
        tracer: trace.Tracer,
        name: str,
        span_kind: SpanKind,
        attrs: dict[str, AttributeValue],
        kind: str,
        cpu_clock: Callable[[], float] | None,
    ) -> None:
        self._tracer = tracer
        self._name = name
        self._span_kind = span_kind
        self._attrs = attrs  # start attributes, then the facts to flush
        self._cpu_clock = cpu_clock
        self._token: object = None
        self._cpu_start = 0.0
        self.kind = kind
        self.span: Span = trace.INVALID_SPAN
        self.inputs: list[str] = []
        self.outputs: list[str] = []

    def __enter__(self) -> DatasetOperation:
        try:
            span = self._tracer.start_span(self._name, kind=self._span_kind, attributes=self._attrs)
            self._token = context.attach(trace.set_span_in_context(span))
            self.span = span
        except Exception as exc:
            log_once(f"{self.kind}.start_span", exc)
        self._attrs = {}
        if self._cpu_clock is not None:
            self._cpu_start = self._cpu_clock()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        try:
            if exc is not None:
                mark_failed(self.span, exc)
            if self._cpu_clock is not None:
                # round to the microsecond; round(x, 6) costs three times as much
                cpu = round((self._cpu_clock() - self._cpu_start) * 1e6) / 1e6
                self._attrs[semconv.DATAOPS_CPU_SECONDS] = cpu
            self.flush()
            self.span.end()
        except Exception as inner:
            log_once(f"{self.kind}.end_span", inner)
        finally:
            if self._token is not None:
                context.detach(self._token)  # type: ignore[arg-type]

    def add_input(self, *dataset_ids: str) -> None:
        _extend_unique(self.inputs, dataset_ids)

    def add_output(self, *dataset_ids: str) -> None:
        _extend_unique(self.outputs, dataset_ids)

    def set_rows(self, rows: int | None) -> None:
        if rows is not None:
            self.set(semconv.DATAOPS_DATASET_ROWS, int(rows))

    def set_bytes(self, size: int | None) -> None:
        if size is not None:
            self.set(semconv.DATAOPS_DATASET_BYTES, int(size))

    def set_schema(self, schema: Schema | None) -> None:
        if schema is None:
            return
        try:
            attrs = self._attrs
            attrs[semconv.DATAOPS_DATASET_COLUMNS] = len(schema.columns)
            attrs[semconv.DATAOPS_DATASET_SCHEMA] = schema.to_json()
            attrs[semconv.DATAOPS_DATASET_SCHEMA_HASH] = schema.hash
        except Exception as exc:
            log_once(f"{self.kind}.schema", exc)

    def set(self, key: str, value: AttributeValue | None) -> None:
        """Set any attribute (a `semconv` constant) unless the value is None."""
        if value is not None:
            self._attrs[key] = value

    def flush(self) -> None:
        """Write the buffered facts onto the span (called when the operation ends)."""
        try:
            attrs = self._attrs
            if self.inputs:
                attrs[semconv.DATAOPS_INPUTS] = self.inputs
            if self.outputs:
                attrs[semconv.DATAOPS_OUTPUTS] = self.outputs
            if attrs:
                self.span.set_attributes(attrs)
                self._attrs = {}
                self.inputs, self.outputs = [], []
        except Exception as exc:
            log_once(f"{self.kind}.flush", exc)


def _extend_unique(target: list[str], values: Sequence[str]) -> None:
    for value in values:
        if value and type(value) is str and value not in target:
            target.append(value)


def dataset_operation(
    tracer: trace.Tracer,
    span_name: str,
    operation: str,
    *,
    kind: str,
    span_kind: SpanKind = SpanKind.INTERNAL,
    dataset_format: str | None = None,
    attributes: dict[str, AttributeValue] | None = None,
    cpu_clock: Callable[[], float] | None = time.process_time,
) -> DatasetOperation:
    """Open the span of one dataset operation around the host call (``with ... as op``).

    `kind` names the call site for log-once failure reporting (for example
    ``"pandas.read_csv"``). The span gets ``dataops.operation``, the format, the
    enclosing run's job name and run id, and on exit the CPU seconds spent
    inside by `cpu_clock`: the whole process by default; ``time.thread_time``
    for work that runs in the calling thread only (it is cheaper, and other
    threads' CPU is not charged to the operation); None where CPU is reported
    otherwise (Spark's executors). An exception from the block sets ERROR
    status with ``error.type`` and propagates unchanged.
    """
    attrs: dict[str, AttributeValue] = {semconv.DATAOPS_OPERATION: operation}
    if dataset_format:
        attrs[semconv.DATAOPS_DATASET_FORMAT] = dataset_format
    run = current_run()
    if run is not None:
        attrs.update(run.attributes())
    if attributes:
        attrs.update(attributes)
    return DatasetOperation(tracer, span_name, span_kind, attrs, kind, cpu_clock)


def mark_failed(span: Span, exc: BaseException) -> None:
    """Record a host exception on `span` the way every dataops span does."""
    try:
        span.record_exception(exc)
        span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:1024]))
    except Exception as inner:
        log_once("span.mark_failed", inner)
