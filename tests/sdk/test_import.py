"""`import dataops_otel` stays light and exposes exactly its public API."""

from __future__ import annotations

import json
import subprocess
import sys

import dataops_otel

HEAVY = ("pandas", "pyspark", "sqlalchemy", "grpc", "chdb", "clickhouse_connect", "pyarrow")


def test_import_does_not_load_heavy_libraries() -> None:
    code = (
        "import json, sys, dataops_otel, dataops_otel.manual, dataops_otel.setup;"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY!r} or m.startswith('dataops_collector'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == []


def test_public_api() -> None:
    assert sorted(dataops_otel.__all__) == sorted(
        [
            "ALL",
            "SEMCONV_VERSION",
            "Recording",
            "RunContext",
            "Schema",
            "__version__",
            "as_dataset_id",
            "current_run",
            "dataset_id",
            "dataset_id_for_jdbc",
            "dataset_id_for_path",
            "dataset_id_for_sqlalchemy",
            "dataset_id_for_url",
            "init",
            "job",
            "record",
            "recording",
            "schema_from_arrow",
            "schema_from_pandas",
            "shutdown",
            "split_dataset_id",
        ]
    )
    for name in dataops_otel.__all__:
        assert getattr(dataops_otel, name) is not None
    assert dataops_otel.SEMCONV_VERSION == "0.1.0"
