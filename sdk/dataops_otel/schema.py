"""Schema capture: column names and types, and a stable hash of them.

Schema conformance and schema-change events (M3) compare hashes across runs,
processes and machines, so the hash must depend only on the ordered
``(name, type)`` pairs: it is SHA-256 of the compact JSON form.

Never touches data values: pandas schemas come from ``DataFrame.dtypes``,
Arrow schemas from ``Schema.names``/``Schema.types``, Spark schemas from
``StructType`` fields. None of the libraries is imported here; the objects
are read through their attributes, so this module stays importable without them.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Schema:
    """An ordered list of ``(column name, type name)`` pairs."""

    columns: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, columns: Sequence[tuple[Any, Any]]) -> Schema:
        """Build from pairs; names and types are turned into strings."""
        return cls(tuple((str(name), str(dtype)) for name, dtype in columns))

    def to_json(self) -> str:
        """Compact JSON ``[["col","type"],...]`` for ``dataops.dataset.schema``."""
        return _schema_json(self.columns)

    @property
    def hash(self) -> str:
        """Order-sensitive hash: the first 16 hex digits of SHA-256 of `to_json()`."""
        return _schema_hash(self.columns)


@functools.lru_cache(maxsize=1024)
def _schema_json(columns: tuple[tuple[str, str], ...]) -> str:
    # Pipelines write the same few schemas again and again: cache the encoding.
    return json.dumps([list(c) for c in columns], separators=(",", ":"))


@functools.lru_cache(maxsize=1024)
def _schema_hash(columns: tuple[tuple[str, str], ...]) -> str:
    return hashlib.sha256(_schema_json(columns).encode("utf-8")).hexdigest()[:16]


def schema_from_pandas(frame: Any) -> Schema:
    """Schema of a pandas DataFrame (or Series) from its dtypes; no values read.

    Column labels that are not strings are stringified, MultiIndex labels
    (tuples) are joined with ``.``; a Series is one column named by its name
    (``0`` when unnamed, the header pandas itself writes for it).
    """
    if hasattr(frame, "columns"):
        labels = list(frame.columns)
        dtypes = _frame_dtypes(frame)
    else:
        labels = [0 if frame.name is None else frame.name]
        dtypes = [frame.dtype]
    return Schema(
        tuple(
            (_column_label(label), str(dtype)) for label, dtype in zip(labels, dtypes, strict=True)
        )
    )


def _frame_dtypes(frame: Any) -> list[Any]:
    """Column dtypes without building the ``frame.dtypes`` Series.

    ``DataFrame.dtypes`` constructs a new Series on every call (tens of
    microseconds); the block manager already holds the dtypes in column order.
    The private accessor is used only when present; otherwise the public one.
    """
    get_dtypes = getattr(getattr(frame, "_mgr", None), "get_dtypes", None)
    if callable(get_dtypes):
        dtypes = list(get_dtypes())
        if len(dtypes) == len(frame.columns):
            return dtypes
    return list(frame.dtypes)


def schema_from_arrow(schema_or_table: Any) -> Schema:
    """Schema of a pyarrow ``Schema``, ``Table``, ``RecordBatch`` or dataset.

    Types are Arrow's own names (``int64``, ``string``, ``timestamp[us, tz=UTC]``).
    """
    schema = getattr(schema_or_table, "schema", schema_or_table)
    return Schema(tuple((str(n), str(t)) for n, t in zip(schema.names, schema.types, strict=True)))


def schema_from_spark(struct_type: Any) -> Schema:
    """Schema of a Spark ``StructType`` (or a DataFrame) with ``simpleString`` types."""
    struct = getattr(struct_type, "schema", struct_type)
    return Schema(tuple((str(f.name), f.dataType.simpleString()) for f in struct.fields))


def _column_label(label: Any) -> str:
    if isinstance(label, tuple):
        return ".".join(str(part) for part in label)
    return str(label)
