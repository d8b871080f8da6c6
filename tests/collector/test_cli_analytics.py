"""The on-call commands through the real `dataops` entry point, in every format."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dataops_collector.app import Collector
from dataops_collector.cli import main
from tests.collector.otlp import dataset_span, poll, request, running_collector, send_grpc

RAW, MART = "file:///cli/raw.csv", "file:///cli/mart.parquet"


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with running_collector(tmp_path_factory.mktemp("cli")) as running:
        spans = [
            dataset_span("write", outputs=[RAW], rows=10, job="extract", schema=[("id", "int64")]),
            dataset_span(
                "write",
                inputs=[RAW],
                outputs=[MART],
                rows=4,
                job="daily",
                schema=[("id", "int64"), ("n", "int64")],
            ),
        ]
        send_grpc(running.grpc_port, request(spans))
        poll(
            lambda: (
                running.store is not None
                and running.store.query_rows("SELECT count() FROM dataops_lineage_edges").scalar()
                == 1
            ),
            what="spans stored",
        )
        yield running


def run(collector: Collector, *args: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{collector.query_port}"
    result = CliRunner().invoke(main, [*args, "--clickhouse-url", url])
    return result.exit_code, result.output


def test_datasets_json_has_the_documented_fields(collector: Collector) -> None:
    code, out = run(collector, "datasets", "--format", "json")
    assert code == 0, out
    rows = {r["dataset"]: r for r in json.loads(out)}
    mart = rows[MART]
    assert set(mart) >= {
        "dataset",
        "namespace",
        "name",
        "last_write",
        "freshness_seconds",
        "last_rows",
        "schema_hash",
        "writes",
        "reads",
        "cost",
        "slo_status",
    }
    assert (mart["namespace"], mart["name"], mart["last_rows"], mart["writes"]) == (
        "file",
        "/cli/mart.parquet",
        4,
        1,
    )
    assert mart["last_write"].endswith("Z") and mart["slo_status"] == "no_objective"


def test_datasets_table(collector: Collector) -> None:
    code, out = run(collector, "datasets")
    assert code == 0 and MART in out and "no_objective" in out


@pytest.mark.parametrize("fmt", ["table", "json", "mermaid", "dot"])
def test_lineage_formats(collector: Collector, fmt: str) -> None:
    code, out = run(collector, "lineage", MART, "--direction", "upstream", "--format", fmt)
    assert code == 0, out
    if fmt == "json":
        graph = json.loads(out)
        assert graph["root"] == MART
        assert {n["dataset"] for n in graph["nodes"]} == {RAW, MART}
        assert [(e["source"], e["target"], e["jobs"]) for e in graph["edges"]] == [
            (RAW, MART, ["daily"])
        ]
    elif fmt == "mermaid":
        assert out.startswith("graph LR") and "-->|daily|" in out
    elif fmt == "dot":
        assert f'"{RAW}" -> "{MART}" [label="daily"];' in out
    else:
        assert "upstream" in out and f"{RAW} (via daily)" in out


@pytest.mark.parametrize(
    "args",
    [
        ["freshness"],
        ["anomalies", "--since", "30d"],
        ["schema-changes", MART],
        ["jobs"],
        ["cost", "--since", "7d", "--by", "job"],
        ["cost", "--by", "dataset"],
    ],
)
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_other_commands(collector: Collector, args: list[str], fmt: str) -> None:
    code, out = run(collector, *args, "--format", fmt)
    assert code == 0, out
    if fmt == "json":
        assert isinstance(json.loads(out), list)


def test_cost_by_job_json_names_the_jobs(collector: Collector) -> None:
    code, out = run(collector, "cost", "--by", "job", "--format", "json")
    assert code == 0
    assert {r["job"] for r in json.loads(out)} == {"extract", "daily"}


def test_user_errors_are_one_line_without_traceback(collector: Collector) -> None:
    code, out = run(collector, "lineage", "file:///no/such/dataset")
    assert code == 1 and out.startswith("Error: unknown dataset 'file:///no/such/dataset'")
    assert "Traceback" not in out
    result = CliRunner().invoke(main, ["datasets", "--clickhouse-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: cannot query http://127.0.0.1:9")
    code, out = run(collector, "cost", "--since", "yesterday")
    assert code == 2 and "use a number and a unit" in out


def test_executable_entry_point(collector: Collector, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dataops_collector.cli",
            "jobs",
            "--format",
            "json",
            "--clickhouse-url",
            f"http://127.0.0.1:{collector.query_port}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []  # no run roots were sent
