"""The manual API: dataset operations that no instrumentor sees.

A pipeline that moves data with a tool we do not instrument (an HTTP download,
``boto3.upload_file``, a bulk loader, a shell command) still wants its datasets
in the lineage, row counts and freshness. Two calls produce exactly the
attributes the instrumentors produce, through the same
`dataops_otel.operation.dataset_operation`:

* `record` - one call after the fact, when only the facts are known::

      dataops_otel.record("write", inputs=["s3://raw/orders.csv"],
                          outputs=["/data/orders.parquet"], rows=1200)

* `recording` - a context manager around the I/O, so its duration, CPU time
  and failure are captured too; facts learnt during the I/O go on the handle::

      with dataops_otel.recording("read", inputs=["https://api.example.com/orders"],
                                  format="json") as op:
          payload = download()
          op.set_rows(len(payload))

Inputs and outputs are dataset ids (``postgres://db:5432/shop.public.orders``)
or paths and URLs, which become ids through `dataops_otel.datasets`. A
reference that cannot be turned into an id is logged once and left out, so the
pipeline never fails because of it; an unknown ``operation`` is a programming
error and raises ``ValueError`` before any I/O happens.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from dataops_otel import semconv
from dataops_otel.datasets import BARE_SCHEMES, dataset_id_for_path, split_dataset_id
from dataops_otel.guard import call_guarded, guarded
from dataops_otel.operation import DatasetOperation, dataset_operation
from dataops_otel.schema import Schema, schema_from_arrow, schema_from_pandas, schema_from_spark
from dataops_otel.version import __version__

DatasetRef: TypeAlias = "str | os.PathLike[str]"
"""A dataset id, a local path, or a storage URL."""

OPERATIONS = frozenset(
    {
        semconv.OPERATION_READ,
        semconv.OPERATION_WRITE,
        semconv.OPERATION_TRANSFORM,
        semconv.OPERATION_QUERY,
    }
)
_KIND = "manual.record"


class Recording:
    """The handle of an open `recording`: add what the I/O revealed."""

    def __init__(self, operation: DatasetOperation) -> None:
        self._op = operation

    def add_input(self, *refs: DatasetRef) -> None:
        ids = _dataset_ids(refs)
        if ids:
            self._op.add_input(*ids)

    def add_output(self, *refs: DatasetRef) -> None:
        ids = _dataset_ids(refs)
        if ids:
            self._op.add_output(*ids)

    def set_rows(self, rows: int | None) -> None:
        with guarded(f"{_KIND}.rows"):
            self._op.set_rows(rows)

    def set_bytes(self, size: int | None) -> None:
        with guarded(f"{_KIND}.bytes"):
            self._op.set_bytes(size)

    def set_schema(self, schema: Any) -> None:
        """`schema`: a `Schema`, ``(name, type)`` pairs, a pandas/Arrow/Spark schema source."""
        self._op.set_schema(call_guarded(f"{_KIND}.schema", lambda: as_schema(schema), None))

    def set_attribute(self, key: str, value: AttributeValue | None) -> None:
        """Any further attribute, named by a `dataops_otel.semconv` constant."""
        self._op.set(key, value)


@contextmanager
def recording(
    operation: str,
    *,
    inputs: Iterable[DatasetRef] = (),
    outputs: Iterable[DatasetRef] = (),
    rows: int | None = None,
    schema: Any = None,
    bytes: int | None = None,
    format: str | None = None,
    write_mode: str | None = None,
    name: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Iterator[Recording]:
    """Open a dataset operation span around the block that does the I/O.

    The block's exception marks the span failed (``error.type``, status ERROR)
    and propagates unchanged; ``dataops.cpu_seconds`` is the process CPU time
    spent inside. The span is named `name`, by default ``dataops.{operation}``.
    """
    _check_operation(operation)
    tracer = trace.get_tracer("dataops_otel", __version__)
    with dataset_operation(
        tracer,
        name or f"dataops.{operation}",
        operation,
        kind=_KIND,
        dataset_format=format,
        attributes=dict(attributes) if attributes else None,
    ) as op:
        handle = Recording(op)
        with guarded(_KIND):
            handle.add_input(*_as_refs(inputs))
            handle.add_output(*_as_refs(outputs))
            handle.set_rows(rows)
            handle.set_bytes(bytes)
            if schema is not None:
                handle.set_schema(schema)
            op.set(semconv.DATAOPS_WRITE_MODE, write_mode)
        yield handle


def record(
    operation: str,
    *,
    inputs: Iterable[DatasetRef] = (),
    outputs: Iterable[DatasetRef] = (),
    rows: int | None = None,
    schema: Any = None,
    bytes: int | None = None,
    format: str | None = None,
    write_mode: str | None = None,
    name: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> None:
    """Record a dataset operation that already happened, as one span.

    Arguments are those of `recording`; the span has no duration or CPU time
    of its own. Use `recording` when the I/O can be wrapped.
    """
    with recording(
        operation,
        inputs=inputs,
        outputs=outputs,
        rows=rows,
        schema=schema,
        bytes=bytes,
        format=format,
        write_mode=write_mode,
        name=name,
        attributes=attributes,
    ):
        pass


def as_dataset_id(ref: DatasetRef) -> str:
    """The dataset id of `ref`: an id as written, or the id of a path or URL.

    Storage URLs and paths are normalised (credentials dropped); database ids
    (``postgres://``, ``mysql://``, ``sqlite://``) are checked and default ports
    filled in.
    """
    text = os.fspath(ref)
    if not isinstance(text, str):
        raise TypeError(f"a dataset reference must be text, not {type(text).__name__}")
    scheme = text.partition("://")[0].lower()
    if scheme in BARE_SCHEMES - {"file"}:
        split_dataset_id(text)  # validates
        return text
    return dataset_id_for_path(text)


def as_schema(source: Any) -> Schema:
    """A `Schema` from a `Schema`, ``(name, type)`` pairs, or a pandas, Arrow or Spark object."""
    if isinstance(source, Schema):
        return source
    if hasattr(source, "dtypes") and (hasattr(source, "columns") or hasattr(source, "dtype")):
        if hasattr(source, "schema") and hasattr(getattr(source, "schema", None), "fields"):
            return schema_from_spark(source)  # a Spark DataFrame also has dtypes/columns
        return schema_from_pandas(source)
    if hasattr(getattr(source, "schema", source), "names"):
        return schema_from_arrow(source)
    if hasattr(source, "fields"):
        return schema_from_spark(source)
    if isinstance(source, Sequence) and not isinstance(source, str):
        return Schema.of(list(source))
    raise TypeError(f"cannot take a schema from {type(source).__name__}")


def _as_refs(refs: Iterable[DatasetRef] | DatasetRef) -> list[DatasetRef]:
    if isinstance(refs, (str, os.PathLike)):
        return [refs]  # one reference passed where a list was expected
    return list(refs)


def _dataset_ids(refs: Iterable[DatasetRef]) -> list[str]:
    ids: list[str] = []
    for ref in refs:
        with guarded(f"{_KIND}.dataset_id"):
            ids.append(as_dataset_id(ref))
    return ids


def _check_operation(operation: str) -> None:
    if operation not in OPERATIONS:
        raise ValueError(
            f"unknown dataops operation {operation!r}; expected one of {sorted(OPERATIONS)}"
        )
