"""`dataops demo`: the one-command tour.

Starts an embedded collector in this process on free ports (in a temporary
directory unless ``--data-dir`` is given), points the SDK at it, runs the
example pipeline (``examples/orders_pipeline.py``) twice, waits until its spans
are stored, and prints the catalog, the lineage tree of the final report,
freshness and cost, reading them through the collector's query endpoint like
any other client would.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from dataops_collector.cli.analytics import emit, render_lineage, with_store

RUNS = 2


def _example_file(name: str) -> Path:
    """The example shipped in the wheel, or the repository's examples/ folder."""
    shipped = resources.files("dataops_collector") / "_examples" / name
    if shipped.is_file():
        return Path(str(shipped))
    return Path(__file__).resolve().parents[3] / "examples" / name


def _load_pipeline() -> ModuleType:
    path = _example_file("orders_pipeline.py")
    spec = importlib.util.spec_from_file_location("dataops_example_orders_pipeline", path)
    if spec is None or spec.loader is None:
        raise click.ClickException(f"cannot load the example pipeline from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@click.command("demo")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Keep the data here.")
def demo_command(data_dir: str | None) -> None:
    """Run the example pipeline into an embedded collector and show what it learned."""
    import dataops_otel

    base = Path(data_dir).resolve() if data_dir else Path(tempfile.mkdtemp(prefix="dataops-demo-"))
    try:
        collector = _start_collector(base)
        try:
            dataops_otel.init(
                service_name="orders-etl",
                endpoint=f"http://127.0.0.1:{collector.grpc_port}",
                resource_attributes={"service.version": "demo"},
                instrument=["pandas", "sqlalchemy"],
            )
            pipeline = _load_pipeline()
            report = None
            for run_number in range(1, RUNS + 1):
                click.echo(f"running the example pipeline (run {run_number} of {RUNS}) ...")
                report = pipeline.run(base / "pipeline", run_number)
            dataops_otel.shutdown()
            _wait_for_runs(collector, expected=2 * RUNS)
            _show(collector.query_port, f"file://{report}")
        finally:
            collector.stop()
    finally:
        if data_dir is None:
            shutil.rmtree(base, ignore_errors=True)
    if data_dir:
        click.echo(
            f"\nData kept in {base / 'data'}. Explore it with:\n"
            f"  dataops collector --data-dir {base / 'data'}\n"
            "  dataops datasets; dataops lineage <dataset>; dataops sql 'SELECT ...'"
        )


def _start_collector(base: Path) -> Any:
    from dataops_collector.app import Collector
    from dataops_collector.config import load_settings

    settings = load_settings(
        flags={
            "data_dir": str(base / "data"),
            "listen": "127.0.0.1:0",
            "http_listen": "127.0.0.1:0",
            "query_listen": "127.0.0.1:0",
            "batch_max_delay_ms": 200,
            "slo_file": str(_example_file("slos.yaml")),
        },
        environ={},
    )
    return Collector(settings).start()


def _wait_for_runs(collector: Any, *, expected: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = collector.store.query_rows("SELECT count() FROM dataops_runs").scalar()
        if runs >= expected and collector.pipeline.queued_spans == 0:
            return
        time.sleep(0.1)
    raise click.ClickException("the demo's spans did not arrive in time")


def _show(query_port: int, final_dataset: str) -> None:
    with_store(f"http://127.0.0.1:{query_port}", lambda store: _print_answers(store, final_dataset))


def _print_answers(store: Any, final_dataset: str) -> None:
    from dataops_collector.analytics import answers

    click.secho("\nDatasets", bold=True)
    emit(
        answers.datasets(store),
        "table",
        ["dataset", "last_write", "last_rows", "writes", "reads", "cost", "slo_status"],
        "",
    )
    click.secho(f"\nLineage of {final_dataset}", bold=True)
    graph = answers.lineage(store, final_dataset, direction="upstream", depth=6)
    click.echo(render_lineage(graph, "table"))
    click.secho("\nFreshness", bold=True)
    emit(
        answers.freshness(store),
        "table",
        ["dataset", "freshness_seconds", "objective_seconds", "critical", "status"],
        "",
    )
    click.secho("\nCost by job (last 7 days)", bold=True)
    emit(
        answers.cost(store, since_s=7 * 86400, by="job"),
        "table",
        ["job", "cost", "cpu_seconds", "bytes_scanned", "bytes_written"],
        "",
    )
    click.secho("\nJobs", bold=True)
    emit(
        answers.jobs(store),
        "table",
        ["job", "runs", "succeeded", "success_rate", "p50_seconds", "p95_seconds"],
        "",
    )


COMMANDS: list[click.Command] = [demo_command]
