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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from dataops_otel import semconv
from dataops_otel.guard import guarded, log_once
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
    """Collects the dataset facts of one operation and puts them on its span.

    Facts are buffered and written with one ``set_attributes`` call when the
    operation ends (`flush`): each ``set_attribute`` on an SDK span takes a
    lock and validates, and a tiny ``read_csv`` must stay cheap. Inputs and
    outputs are de-duplicated and keep their first-seen order.
    """

    def __init__(self, span: Span, kind: str) -> None:
        self.span = span
        self.kind = kind
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self._pending: dict[str, AttributeValue] = {}

    def add_input(self, *dataset_ids: str) -> None:
        with guarded(f"{self.kind}.inputs"):
            _extend_unique(self.inputs, dataset_ids)

    def add_output(self, *dataset_ids: str) -> None:
        with guarded(f"{self.kind}.outputs"):
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
        with guarded(f"{self.kind}.schema"):
            self._pending[semconv.DATAOPS_DATASET_COLUMNS] = len(schema.columns)
            self._pending[semconv.DATAOPS_DATASET_SCHEMA] = schema.to_json()
            self._pending[semconv.DATAOPS_DATASET_SCHEMA_HASH] = schema.hash

    def set(self, key: str, value: AttributeValue | None) -> None:
        """Set any attribute (a `semconv` constant) unless the value is None."""
        if value is not None:
            self._pending[key] = value

    def flush(self) -> None:
        """Write the buffered facts onto the span (called when the operation ends)."""
        with guarded(f"{self.kind}.flush"):
            if self.inputs:
                self._pending[semconv.DATAOPS_INPUTS] = list(self.inputs)
            if self.outputs:
                self._pending[semconv.DATAOPS_OUTPUTS] = list(self.outputs)
            if self._pending:
                self.span.set_attributes(self._pending)
                self._pending = {}


def _extend_unique(target: list[str], values: Sequence[str]) -> None:
    for value in values:
        if value and value not in target:
            target.append(value)


@contextmanager
def dataset_operation(
    tracer: trace.Tracer,
    span_name: str,
    operation: str,
    *,
    kind: str,
    span_kind: SpanKind = SpanKind.INTERNAL,
    dataset_format: str | None = None,
    attributes: dict[str, AttributeValue] | None = None,
    record_process_cpu: bool = True,
) -> Iterator[DatasetOperation]:
    """Open the span of one dataset operation around the host call.

    `kind` names the call site for log-once failure reporting (for example
    ``"pandas.read_csv"``). The span gets ``dataops.operation``, the format, the
    enclosing run's job name and run id, and on exit the process CPU seconds
    spent inside (unless `record_process_cpu` is False: Spark reports executor
    CPU itself). An exception from the block sets ERROR status with
    ``error.type`` and propagates unchanged.
    """
    attrs: dict[str, AttributeValue] = {semconv.DATAOPS_OPERATION: operation}
    if dataset_format:
        attrs[semconv.DATAOPS_DATASET_FORMAT] = dataset_format
    run = current_run()
    if run is not None:
        attrs.update(run.attributes())
    if attributes:
        attrs.update(attributes)
    cpu_start = time.process_time()
    with tracer.start_as_current_span(
        span_name,
        kind=span_kind,
        attributes=attrs,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        op = DatasetOperation(span, kind)
        try:
            yield op
        except BaseException as exc:
            mark_failed(span, exc)
            raise
        finally:
            if record_process_cpu:
                op.set(semconv.DATAOPS_CPU_SECONDS, round(time.process_time() - cpu_start, 6))
            op.flush()


def mark_failed(span: Span, exc: BaseException) -> None:
    """Record a host exception on `span` the way every dataops span does."""
    try:
        span.record_exception(exc)
        span.set_attribute(semconv.ERROR_TYPE, type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:1024]))
    except Exception as inner:
        log_once("span.mark_failed", inner)
