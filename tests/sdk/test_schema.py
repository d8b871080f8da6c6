"""Schema capture: names and types only, never values; hash stable and order-sensitive."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, NoReturn

import pandas as pd
import pyarrow as pa
import pytest

from dataops_otel.schema import Schema, schema_from_arrow, schema_from_pandas


class Untouchable:
    """A cell value that fails on any access: schema capture must never read it."""

    def _boom(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError("a data value was read")

    __repr__ = __str__ = __eq__ = __hash__ = __bool__ = __len__ = __iter__ = _boom  # type: ignore[assignment]
    __getattr__ = _boom


def test_pandas_frame_schema() -> None:
    frame = pd.DataFrame(
        {
            "id": pd.Series([1, 2], dtype="int64"),
            "price": [1.5, 2.5],
            "ts": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "ok": [True, False],
            7: pd.Series([1, 2], dtype="Int32"),
        }
    )
    schema = schema_from_pandas(frame)
    assert schema.columns == (
        ("id", "int64"),
        ("price", "float64"),
        ("ts", "datetime64[us]"),
        ("ok", "bool"),
        ("7", "Int32"),
    )
    assert schema.to_json() == (
        '[["id","int64"],["price","float64"],["ts","datetime64[us]"],["ok","bool"],["7","Int32"]]'
    )


def test_pandas_never_reads_values() -> None:
    frame = pd.DataFrame({"n": [1, 2]})
    frame["secret"] = pd.Series([Untouchable(), Untouchable()], dtype=object)
    assert schema_from_pandas(frame).columns == (("n", "int64"), ("secret", "object"))
    series = pd.Series([Untouchable()], dtype=object, name="s")
    assert schema_from_pandas(series).columns == (("s", "object"),)


def test_pandas_series_and_labels() -> None:
    assert schema_from_pandas(pd.Series([1.0], name="amount")).columns == (("amount", "float64"),)
    assert schema_from_pandas(pd.Series([1])).columns == (("0", "int64"),)
    columns = pd.MultiIndex.from_tuples([("sales", "eu"), ("sales", 2024)])
    frame = pd.DataFrame([[1, 2.0]], columns=columns)
    assert schema_from_pandas(frame).columns == (("sales.eu", "int64"), ("sales.2024", "float64"))
    duplicated = pd.DataFrame([[1, "x"]], columns=["a", "a"])
    assert [n for n, _ in schema_from_pandas(duplicated).columns] == ["a", "a"]
    assert schema_from_pandas(pd.DataFrame()).columns == ()


def test_pandas_string_and_arrow_dtypes() -> None:
    frame = pd.DataFrame({"s": ["a"]}).astype({"s": "string[pyarrow]"})
    assert schema_from_pandas(frame).columns == (("s", "string"),)
    arrow_backed = pd.DataFrame({"n": [1]}).convert_dtypes(dtype_backend="pyarrow")
    assert schema_from_pandas(arrow_backed).columns == (("n", "int64[pyarrow]"),)


def test_arrow_schema_table_and_batch() -> None:
    table = pa.table(
        {
            "id": pa.array([1], pa.int64()),
            "name": pa.array(["x"], pa.string()),
            "at": pa.array([0], pa.timestamp("us", tz="UTC")),
        }
    )
    expected = (("id", "int64"), ("name", "string"), ("at", "timestamp[us, tz=UTC]"))
    assert schema_from_arrow(table).columns == expected
    assert schema_from_arrow(table.schema).columns == expected
    assert schema_from_arrow(table.to_batches()[0]).columns == expected


def test_hash_is_order_sensitive_and_exact() -> None:
    ab = Schema.of([("a", "int64"), ("b", "str")])
    ba = Schema.of([("b", "str"), ("a", "int64")])
    assert ab.hash != ba.hash
    assert ab.hash == Schema.of([("a", "int64"), ("b", "str")]).hash
    # sha256('[["a","int64"],["b","str"]]')[:16], fixed so a change of the hash is visible
    assert ab.hash == "b428a838b910b51f"
    assert len(ab.hash) == 16
    assert Schema.of([("a", "int64")]).hash != Schema.of([("a", "int32")]).hash


def test_hash_is_stable_across_processes() -> None:
    code = (
        "from dataops_otel.schema import Schema;print(Schema.of([('a','int64'),('ü','str')]).hash)"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code],
            check=True,
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert runs == {Schema.of([("a", "int64"), ("ü", "str")]).hash}


def test_schema_of_stringifies() -> None:
    assert Schema.of([(1, pa.int64())]).columns == (("1", "int64"),)


@pytest.mark.parametrize("frame", [pd.DataFrame({"x": [1]}), pd.Series([1], name="x")])
def test_schema_json_round_trip(frame: Any) -> None:
    import json

    schema = schema_from_pandas(frame)
    assert Schema.of([tuple(c) for c in json.loads(schema.to_json())]) == schema


def test_reused_pandas_schemas_keep_label_types_apart() -> None:
    ints = pd.DataFrame([[1]], columns=[1])
    bools = pd.DataFrame([[1]], columns=[True])
    floats = pd.DataFrame([[1]], columns=[1.0])
    assert [schema_from_pandas(f).columns[0][0] for f in (ints, bools, floats)] == [
        "1",
        "True",
        "1.0",
    ]
    first = schema_from_pandas(pd.DataFrame({"a": [1], "b": ["x"]}))
    again = schema_from_pandas(pd.DataFrame({"a": [2], "b": ["y"]}))
    other = schema_from_pandas(pd.DataFrame({"a": [2.5], "b": ["y"]}))
    assert first is again and first.hash == again.hash
    assert other.columns == (("a", "float64"), ("b", "str")) and other.hash != first.hash
