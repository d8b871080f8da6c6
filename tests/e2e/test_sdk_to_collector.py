"""End to end: the SDK's real OTLP exporters -> collector (in-process, subprocess) -> ClickHouse."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import pytest
from click.testing import CliRunner

from dataops_collector.app import Collector
from dataops_collector.cli import main
from tests.collector.otlp import count, dataset_span, poll, request, running_collector

PIPELINE = textwrap.dedent(
    """
    import sys
    import pandas as pd
    import dataops_otel

    data_dir, protocol, endpoint = sys.argv[1:4]
    import os
    os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
    dataops_otel.init(service_name="orders-etl", endpoint=endpoint, instrument=["pandas"],
                      resource_attributes={"service.version": "2.0"})
    with dataops_otel.job("orders-daily"):
        raw = pd.DataFrame({"id": [1, 2, 3], "amount": [1.0, 2.0, 3.0]})
        raw.to_csv(f"{data_dir}/raw.csv", index=False)
        raw = pd.read_csv(f"{data_dir}/raw.csv")
        raw[raw["amount"] > 1].to_parquet(f"{data_dir}/clean.parquet")
    dataops_otel.shutdown()
    """
)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with running_collector(tmp_path_factory.mktemp("e2e")) as running:
        yield running


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_pipeline_spans_reach_derived_tables(
    collector: Collector, tmp_path: Path, protocol: str
) -> None:
    endpoint = (
        f"http://127.0.0.1:{collector.grpc_port}"
        if protocol == "grpc"
        else f"http://127.0.0.1:{collector.http_port}/v1/traces"
    )
    script = tmp_path / "etl.py"
    script.write_text(PIPELINE)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path), protocol, endpoint],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    clean = f"file://{tmp_path}/clean.parquet"
    raw = f"file://{tmp_path}/raw.csv"
    poll(
        lambda: (
            count(
                collector,
                "SELECT count() FROM dataops_lineage_edges WHERE Target = {t:String}",
                t=clean,
            )
            == 1
        ),
        what="lineage edge",
    )

    # Read through the query endpoint with clickhouse-connect, as users do.
    client = clickhouse_connect.get_client(host="127.0.0.1", port=collector.query_port)
    events = client.query(
        "SELECT Role, Operation, Rows, JobName, ServiceName, ServiceVersion"
        " FROM dataops_dataset_events WHERE DatasetId = {d:String} ORDER BY Timestamp",
        parameters={"d": clean},
    ).result_rows
    assert events == [
        ("output", "write", 2, "orders-daily", "orders-etl", "2.0"),
    ]
    edges = client.query(
        "SELECT Source, JobName FROM dataops_lineage_edges FINAL WHERE Target = {t:String}",
        parameters={"t": clean},
    ).result_rows
    assert edges == [(raw, "orders-daily")]
    runs = client.query(
        "SELECT JobName, StatusCode FROM dataops_runs WHERE ServiceVersion = '2.0'"
    ).result_rows
    assert ("orders-daily", "Ok") in runs


def test_dataops_sql_reads_through_the_endpoint(collector: Collector) -> None:
    from tests.collector.otlp import send_grpc

    send_grpc(
        collector.grpc_port, request([dataset_span("write", outputs=["file:///cli/t.csv"], rows=5)])
    )
    poll(
        lambda: (
            count(
                collector,
                "SELECT count() FROM dataops_dataset_events WHERE DatasetId = 'file:///cli/t.csv'",
            )
            == 1
        ),
        what="event",
    )
    url = f"http://127.0.0.1:{collector.query_port}"
    result = CliRunner().invoke(
        main,
        [
            "sql",
            "SELECT DatasetId, Rows FROM dataops_dataset_events WHERE DatasetId = 'file:///cli/t.csv'",
            "--format",
            "json",
            "--clickhouse-url",
            url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"DatasetId": "file:///cli/t.csv", "Rows": 5}]
    refused = CliRunner().invoke(main, ["sql", "DROP TABLE otel_traces", "--clickhouse-url", url])
    assert refused.exit_code != 0
    assert "READONLY" in refused.output and "Traceback" not in refused.output


def test_dataops_sql_unreachable_url_is_one_clear_line() -> None:
    result = CliRunner().invoke(main, ["sql", "SELECT 1", "--clickhouse-url", "http://127.0.0.1:9"])
    assert result.exit_code != 0
    assert result.output.startswith("Error: cannot query http://127.0.0.1:9")
    assert "Traceback" not in result.output


def test_subprocess_collector_drains_on_sigterm(tmp_path: Path, collector: Collector) -> None:
    # The in-process collector holds chDB in this process; the subprocess has its own.
    data_dir = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dataops_collector.cli",
            "collector",
            "--data-dir",
            str(data_dir),
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--query-listen",
            "127.0.0.1:0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DATAOPS_BATCH_MAX_DELAY_MS": "60000"},  # only the drain inserts
    )
    try:
        assert proc.stderr is not None
        started = None
        for line in proc.stderr:
            if '"collector started"' in line:
                started = json.loads(line)
                break
        assert started is not None, "collector did not start"
        http_port = int(started["otlp_http"].rsplit(":", 1)[1])
        body = request([dataset_span("write", outputs=[f"file:///drain/{i}"]) for i in range(25)])
        req = urllib.request.Request(
            f"http://127.0.0.1:{http_port}/v1/traces",
            data=body.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        with urllib.request.urlopen(req, timeout=10) as response:
            assert response.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    # Verify in a fresh process (this one holds the other collector's chDB).
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from dataops_collector.storage.chdb_store import ChdbStore;"
            "s = ChdbStore(sys.argv[1]);"
            "print(s.query_rows('SELECT count() FROM otel_traces').scalar())",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.stdout.strip() == "25", check.stderr
