"""Every pandas reader and writer is one span with the dataset's facts (real files)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from dataops_otel import semconv
from dataops_otel.datasets import dataset_id_for_path
from dataops_otel.schema import schema_from_pandas

from .pandas_support import instrumented, only_span, pandas_spans

__all__ = ["instrumented"]


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"order_id": [1, 2, 3, 4], "amount": [9.5, 3.0, 7.25, 1.0], "sku": ["a", "b", "a", "c"]}
    )


# (writer, reader, file name, format, writer kwargs, reader kwargs)
FORMATS: list[tuple[str, str, str, str, dict[str, Any], dict[str, Any]]] = [
    ("to_csv", "read_csv", "orders.csv", "csv", {"index": False}, {}),
    ("to_parquet", "read_parquet", "orders.parquet", "parquet", {}, {}),
    ("to_json", "read_json", "orders.json", "json", {"orient": "records"}, {"orient": "records"}),
    ("to_excel", "read_excel", "orders.xlsx", "excel", {"index": False}, {}),
    ("to_feather", "read_feather", "orders.feather", "feather", {}, {}),
    ("to_orc", "read_orc", "orders.orc", "orc", {}, {}),
    ("to_pickle", "read_pickle", "orders.pkl", "pickle", {}, {}),
]


@pytest.mark.parametrize(("writer", "reader", "file_name", "fmt", "wkw", "rkw"), FORMATS)
def test_write_then_read_is_one_span_each_with_dataset_facts(
    instrumented: InMemorySpanExporter,
    tmp_path: Path,
    writer: str,
    reader: str,
    file_name: str,
    fmt: str,
    wkw: dict[str, Any],
    rkw: dict[str, Any],
) -> None:
    path = tmp_path / file_name
    data = frame()
    getattr(data, writer)(path, **wkw)
    result = getattr(pd, reader)(path, **rkw)

    assert [s.name for s in pandas_spans(instrumented)] == [f"pandas.{writer}", f"pandas.{reader}"]
    expected_id = dataset_id_for_path(str(path))
    write = only_span(instrumented, f"pandas.{writer}")
    attrs = write.attributes or {}
    assert attrs[semconv.DATAOPS_OPERATION] == "write"
    assert list(attrs[semconv.DATAOPS_OUTPUTS]) == [expected_id]  # type: ignore[arg-type]
    assert semconv.DATAOPS_INPUTS not in attrs  # built from scratch: no upstream
    assert attrs[semconv.DATAOPS_DATASET_ROWS] == 4
    assert attrs[semconv.DATAOPS_DATASET_COLUMNS] == 3
    assert attrs[semconv.DATAOPS_DATASET_SCHEMA_HASH] == schema_from_pandas(data).hash
    assert attrs[semconv.DATAOPS_DATASET_FORMAT] == fmt
    assert attrs[semconv.DATAOPS_DATASET_BYTES] == os.path.getsize(path)
    assert isinstance(attrs[semconv.DATAOPS_CPU_SECONDS], float)

    read = only_span(instrumented, f"pandas.{reader}")
    rattrs = read.attributes or {}
    assert rattrs[semconv.DATAOPS_OPERATION] == "read"
    assert list(rattrs[semconv.DATAOPS_INPUTS]) == [expected_id]  # type: ignore[arg-type]
    assert rattrs[semconv.DATAOPS_DATASET_ROWS] == len(result) == 4
    assert rattrs[semconv.DATAOPS_DATASET_SCHEMA_HASH] == schema_from_pandas(result).hash
    assert rattrs[semconv.DATAOPS_DATASET_BYTES] == os.path.getsize(path)
    assert read.status.status_code is not StatusCode.ERROR


@pytest.mark.parametrize(
    ("reader", "content", "kwargs"),
    [
        ("read_table", "a\tb\n1\t2\n3\t4\n", {}),
        ("read_fwf", "a  b\n1  2\n3  4\n", {}),
    ],
)
def test_text_readers(
    instrumented: InMemorySpanExporter, tmp_path: Path, reader: str, content: str, kwargs: Any
) -> None:
    path = tmp_path / "data.txt"
    path.write_text(content)
    result = getattr(pd, reader)(path, **kwargs)
    span = only_span(instrumented, f"pandas.{reader}")
    attrs = span.attributes or {}
    assert attrs[semconv.DATAOPS_DATASET_ROWS] == len(result) == 2
    assert list(attrs[semconv.DATAOPS_INPUTS]) == [dataset_id_for_path(str(path))]  # type: ignore[arg-type]
    assert len(pandas_spans(instrumented)) == 1  # read_table does not double-count


def test_append_mode_is_recorded(instrumented: InMemorySpanExporter, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    frame().to_csv(path, index=False)
    frame().to_csv(path, mode="a", header=False, index=False)
    modes = [(s.attributes or {})[semconv.DATAOPS_WRITE_MODE] for s in pandas_spans(instrumented)]
    assert modes == ["overwrite", "append"]


def test_buffers_and_file_objects_get_sensible_ids(
    instrumented: InMemorySpanExporter, tmp_path: Path
) -> None:
    buffer = io.StringIO()
    frame().to_csv(buffer, index=False)
    pd.read_csv(io.StringIO(buffer.getvalue()))
    path = tmp_path / "named.csv"
    with open(path, "w") as handle:
        frame().to_csv(handle, index=False)
    with open(path) as handle:
        pd.read_csv(handle)
    as_string = frame().to_csv(None)

    assert isinstance(as_string, str)
    ids = [
        list((s.attributes or {}).get(semconv.DATAOPS_OUTPUTS, ()))  # type: ignore[arg-type]
        + list((s.attributes or {}).get(semconv.DATAOPS_INPUTS, ()))  # type: ignore[arg-type]
        for s in pandas_spans(instrumented)
    ]
    named = dataset_id_for_path(str(path))
    assert ids == [
        ["inmemory://python/StringIO"],
        ["inmemory://python/StringIO"],
        [named],
        [named],
        ["inmemory://python/return-value"],
    ]


def test_failed_read_marks_span_and_raises_the_original_error(
    instrumented: InMemorySpanExporter, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.csv"
    with pytest.raises(FileNotFoundError):
        pd.read_csv(missing)
    span = only_span(instrumented, "pandas.read_csv")
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[semconv.ERROR_TYPE] == "FileNotFoundError"
    assert list((span.attributes or {})[semconv.DATAOPS_INPUTS]) == [  # type: ignore[arg-type]
        dataset_id_for_path(str(missing))
    ]


def test_excel_with_all_sheets_counts_rows_of_every_sheet(
    instrumented: InMemorySpanExporter, tmp_path: Path
) -> None:
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        frame().to_excel(writer, sheet_name="a", index=False)
        frame().head(2).to_excel(writer, sheet_name="b", index=False)
    sheets = pd.read_excel(path, sheet_name=None)
    assert set(sheets) == {"a", "b"}
    read = only_span(instrumented, "pandas.read_excel")
    assert (read.attributes or {})[semconv.DATAOPS_DATASET_ROWS] == 6
    writes = [s for s in pandas_spans(instrumented) if s.name == "pandas.to_excel"]
    assert [list((s.attributes or {})[semconv.DATAOPS_OUTPUTS]) for s in writes] == [  # type: ignore[arg-type]
        [dataset_id_for_path(str(path))]
    ] * 2


def test_no_values_are_recorded(instrumented: InMemorySpanExporter, tmp_path: Path) -> None:
    secret = "4111-1111-1111-1111"
    data = pd.DataFrame({"card": [secret], "amount": [1.0]})
    data.to_parquet(tmp_path / "cards.parquet")
    pd.read_parquet(tmp_path / "cards.parquet")
    for span in pandas_spans(instrumented):
        assert all(secret not in str(v) for v in (span.attributes or {}).values())


class _SlowText(io.StringIO):
    """A CSV source whose read waits, as a slow disk or network would."""

    def read(self, *args: Any) -> str:
        import time

        time.sleep(0.3)
        return super().read(*args)


def test_cpu_of_other_threads_is_not_charged_to_a_pandas_read(
    instrumented: InMemorySpanExporter,
) -> None:
    import threading
    import time

    stop = threading.Event()

    def burn() -> None:  # another thread of the application, busy meanwhile
        while not stop.is_set():
            sum(range(1000))

    busy = threading.Thread(target=burn)
    busy.start()
    try:
        process_before = time.process_time()
        pd.read_csv(_SlowText("a\n1\n2\n"))
        process_spent = time.process_time() - process_before
    finally:
        stop.set()
        busy.join()
    cpu = only_span(instrumented, "pandas.read_csv").attributes[semconv.DATAOPS_CPU_SECONDS]
    assert process_spent > 0.1  # the other thread did burn CPU during the read
    assert 0 <= cpu < 0.05  # but the read itself mostly waited
