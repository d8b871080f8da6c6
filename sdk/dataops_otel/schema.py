"""Schema capture: column names and types, and a stable hash of them.

Never touches data values: pandas schemas come from ``DataFrame.dtypes``,
Arrow schemas from ``Table.schema``, Spark schemas from ``StructType``.
"""

from __future__ import annotations

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
    def of(cls, columns: Sequence[tuple[str, str]]) -> Schema:
        return cls(tuple((str(name), str(dtype)) for name, dtype in columns))

    def to_json(self) -> str:
        """Compact JSON ``[["col","type"],...]`` for ``dataops.dataset.schema``."""
        return json.dumps([list(c) for c in self.columns], separators=(",", ":"))

    @property
    def hash(self) -> str:
        """Order-sensitive hash: the first 16 hex digits of SHA-256 of `to_json()`."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:16]


def schema_from_pandas(frame: Any) -> Schema:
    """Schema of a pandas DataFrame (or Series) from its dtypes; no values read."""
    raise NotImplementedError  # implemented by the SDK-core work
