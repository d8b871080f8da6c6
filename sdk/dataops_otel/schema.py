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
        return self._json

    @functools.cached_property
    def _json(self) -> str:
        return _schema_json(self.columns)

    @functools.cached_property
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
    (``0`` when unnamed, the header pandas itself writes for it). Pipelines
    read and write the same few schemas again and again, so a `Schema` (with
    its JSON and hash) is reused for the same labels and dtypes.
    """
    if hasattr(frame, "columns"):
        labels = _labels(frame.columns)
        dtypes = _frame_dtypes(frame, len(labels))
    else:
        labels = [0 if frame.name is None else frame.name]
        dtypes = [frame.dtype]
    key: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None
    known = None
    # Only text labels: 1, 1.0 and True are equal keys but different names.
    if all(type(label) is str for label in labels):
        try:
            key = (tuple(labels), tuple(dtypes))
            known = _PANDAS_SCHEMAS.get(key)
        except TypeError:  # an unhashable dtype: no reuse
            key = None
    if known is not None:
        return known
    schema = Schema(tuple(zip(map(_column_label, labels), map(_type_name, dtypes), strict=True)))
    if key is not None and len(_PANDAS_SCHEMAS) < _MAX_PANDAS_SCHEMAS:
        _PANDAS_SCHEMAS[key] = schema
    return schema


_PANDAS_SCHEMAS: dict[tuple[tuple[Any, ...], tuple[Any, ...]], Schema] = {}
_MAX_PANDAS_SCHEMAS = 1024


def _labels(columns: Any) -> list[Any]:
    """Column labels; pandas' Arrow-backed string Index converts in one call."""
    try:
        arrow = columns.array._pa_array
        labels: list[Any] = (arrow.chunk(0) if arrow.num_chunks == 1 else arrow).to_pylist()
        if len(labels) == len(columns):
            return labels
    except Exception:  # not Arrow-backed (or a MultiIndex): the public path
        pass
    return list(columns)


def _frame_dtypes(frame: Any, columns: int) -> list[Any]:
    """Column dtypes without building the ``frame.dtypes`` Series.

    ``DataFrame.dtypes`` constructs a new Series (tens of microseconds), and
    even the block manager's ``get_dtypes`` first builds its column-to-block
    map, which a frame fresh from a reader does not have yet. Each block knows
    its dtype and its columns, so we read those (private pandas internals,
    used only when present and consistent; otherwise the public accessor).
    """
    try:
        blocks = frame._mgr.blocks
        if len(blocks) == 1 and blocks[0].shape[0] == columns:
            return [blocks[0].dtype] * columns
        dtypes: list[Any] = [None] * columns
        for block in blocks:
            dtype = block.dtype
            for position in block.mgr_locs.as_array.tolist():
                dtypes[position] = dtype
        if None not in dtypes:
            return dtypes
    except (AttributeError, IndexError, TypeError):
        pass
    return list(frame.dtypes)


# str(dtype) costs microseconds (numpy builds the name each time) and a
# pipeline sees the same few dtypes over and over; bounded, since a
# categorical dtype holds its categories.
_TYPE_NAMES: dict[Any, str] = {}
_MAX_TYPE_NAMES = 1024


def _type_name(dtype: Any) -> str:
    try:
        return _TYPE_NAMES[dtype]
    except KeyError:
        name = str(dtype)
        if len(_TYPE_NAMES) < _MAX_TYPE_NAMES:
            _TYPE_NAMES[dtype] = name
        return name
    except TypeError:  # an unhashable dtype
        return str(dtype)


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
    if type(label) is str:
        return label
    if isinstance(label, tuple):
        return ".".join(str(part) for part in label)
    return str(label)
