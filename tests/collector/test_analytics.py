"""Every analytics view's exact answer for known spans sent through the real receiver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dataops_collector.analytics import answers
from dataops_collector.analytics.config_tables import Slo, store_cost_rates, store_slos
from dataops_collector.app import Collector
from dataops_otel import semconv
from tests.collector.otlp import (
    NOW_NS,
    dataset_span,
    poll,
    request,
    running_collector,
    send_grpc,
    span,
)

HOUR = 3600 * 10**9
DAY = 24 * HOUR


def ds(name: str) -> str:
    return f"file:///an/{name}"


def run_root(job: str, run: str, start_ns: int, *, failed: bool = False) -> Any:
    return span(
        f"job {job}",
        attrs={
            semconv.DATAOPS_JOB_NAME: job,
            semconv.DATAOPS_RUN_ID: run,
            semconv.DATAOPS_RUN_ROOT: True,
        },
        start_ns=start_ns,
        duration_ns=2 * 10**9,
        error=failed,
    )


def history() -> list[Any]:
    """Eight daily runs of a chain a -> b -> c -> d, and the cases each test asserts."""
    spans = []
    for day in range(8):
        start = NOW_NS - (8 - day) * DAY
        run = f"daily-{day}"
        rows = 1000 + day if day < 7 else 50  # the last run collapses: a volume anomaly
        schema = [("id", "int64"), ("amount", "float64")]
        if day >= 6:
            schema = [("id", "int64"), ("amount", "str"), ("region", "str")]
        spans += [
            run_root("daily", run, start),
            dataset_span(
                "write",
                inputs=[ds("a")],
                outputs=[ds("b")],
                rows=rows,
                schema=schema,
                job="daily",
                run=run,
                start_ns=start + 1,
                extra={semconv.DATAOPS_CPU_SECONDS: 2.0, semconv.DATAOPS_DATASET_BYTES: 10**9},
            ),
            dataset_span(
                "transform",
                inputs=[ds("b")],
                outputs=[ds("c")],
                rows=10,
                job="daily",
                run=run,
                start_ns=start + 2,
            ),
            dataset_span(
                "transform",
                inputs=[ds("c")],
                outputs=[ds("d")],
                rows=5,
                job="daily",
                run=run,
                start_ns=start + 3,
            ),
        ]
    # A cycle: d feeds back into a.
    spans.append(
        dataset_span(
            "transform",
            inputs=[ds("d")],
            outputs=[ds("a")],
            rows=1,
            job="backfill",
            start_ns=NOW_NS - 2 * HOUR,
        )
    )
    # A job that only reads.
    spans.append(
        dataset_span(
            "read",
            inputs=[ds("d")],
            rows=5,
            job="report",
            start_ns=NOW_NS - HOUR,
            extra={semconv.DATAOPS_CPU_SECONDS: 1.0},
        )
    )
    # A failed run whose write failed: not a fresh write.
    spans += [
        run_root("flaky", "flaky-1", NOW_NS - HOUR, failed=True),
        dataset_span(
            "write",
            outputs=[ds("flaky")],
            rows=3,
            job="flaky",
            run="flaky-1",
            start_ns=NOW_NS - HOUR,
            error=True,
        ),
    ]
    # A rolled-back SQL write and a nested to_sql statement: not counted.
    spans.append(
        dataset_span(
            "write",
            outputs=[ds("rolled")],
            rows=9,
            start_ns=NOW_NS - HOUR,
            extra={semconv.DATAOPS_TRANSACTION_OUTCOME: "rolled_back"},
        )
    )
    spans.append(dataset_span("write", outputs=[ds("stale")], rows=1, start_ns=NOW_NS - 3 * DAY))
    return spans


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with running_collector(tmp_path_factory.mktemp("analytics")) as running:
        assert running.store is not None
        store_slos(
            running.store,
            [
                Slo(ds("d"), freshness_seconds=2 * 86400, completeness=None, critical=True),
                Slo(ds("stale"), freshness_seconds=86400, completeness=None, critical=False),
            ],
        )
        spans = history()
        send_grpc(running.grpc_port, request(spans))
        poll(
            lambda: (
                running.store is not None
                and running.store.query_rows("SELECT count() FROM otel_traces").scalar()
                == len(spans)
            ),
            what="history stored",
        )
        yield running


def store_of(collector: Collector) -> Any:
    assert collector.store is not None
    return collector.store


def test_lineage_depth_one_and_three_and_cycle(collector: Collector) -> None:
    store = store_of(collector)
    one = answers.lineage(store, ds("d"), direction="upstream", depth=1)
    assert [(e["source"], e["target"]) for e in one.edges] == [(ds("c"), ds("d"))]
    three = answers.lineage(store, ds("d"), direction="upstream", depth=3)
    assert sorted((e["source"], e["target"]) for e in three.edges) == [
        (ds("a"), ds("b")),
        (ds("b"), ds("c")),
        (ds("c"), ds("d")),
    ]
    assert three.edges[0]["jobs"] == ["daily"]
    # The cycle d -> a -> b -> c -> d ends the walk instead of looping.
    deep = answers.lineage(store, ds("d"), direction="upstream", depth=20)
    assert set(deep.nodes) == {ds("a"), ds("b"), ds("c"), ds("d")}
    assert len(deep.edges) == 4


def test_unknown_dataset(collector: Collector) -> None:
    with pytest.raises(answers.UnknownDataset):
        answers.lineage(store_of(collector), ds("nope"))


def test_catalog_counts_reads_writes_and_jobs(collector: Collector) -> None:
    rows = {r["dataset"]: r for r in answers.datasets(store_of(collector))}
    assert rows[ds("b")]["writes"] == 8 and rows[ds("b")]["last_rows"] == 50
    assert rows[ds("d")]["reads"] == 2  # the report job's read and the backfill's transform
    catalog = (
        store_of(collector)
        .query_rows(
            "SELECT WritingJobs, ReadingJobs FROM dataops_catalog WHERE DatasetId = {d:String}",
            parameters={"d": ds("d")},
        )
        .rows[0]
    )
    assert list(catalog[0]) == ["daily"] and list(catalog[1]) == ["backfill", "report"]


def test_failed_and_rolled_back_writes_are_not_fresh(collector: Collector) -> None:
    rows = {r["dataset"]: r for r in answers.datasets(store_of(collector))}
    assert rows[ds("flaky")]["last_write"] is None and rows[ds("flaky")]["writes"] == 0
    assert rows[ds("rolled")]["last_write"] is None and rows[ds("rolled")]["writes"] == 0
    failed = (
        store_of(collector)
        .query_rows(
            "SELECT FailedWrites FROM dataops_catalog WHERE DatasetId = {d:String}",
            parameters={"d": ds("flaky")},
        )
        .scalar()
    )
    assert failed == 1


def test_freshness_ok_and_breach(collector: Collector) -> None:
    status = {r["dataset"]: r for r in answers.freshness(store_of(collector))}
    assert status[ds("d")]["status"] == "ok" and status[ds("d")]["critical"] is True
    assert status[ds("stale")]["status"] == "breach"
    assert status[ds("stale")]["freshness_seconds"] >= 3 * 86400 - 60
    assert status[ds("b")]["status"] == "no_objective"
    assert status[ds("flaky")]["status"] == "never_written"


def test_freshness_error_budget_burn(collector: Collector) -> None:
    budget = {
        b["dataset"]: b for b in answers.freshness_budget(store_of(collector), window_s=7 * 86400)
    }
    # d is written daily against a two-day objective: no breach, no burn.
    assert budget[ds("d")]["breach_seconds"] == 0 and budget[ds("d")]["burn_rate"] == 0
    # stale: one write three days ago, objective one day. Breach: 3 of the 4 days
    # from the window start to that write, and 2 of the 3 days since.
    assert budget[ds("stale")]["breach_seconds"] == pytest.approx(5 * 86400, abs=120)
    assert budget[ds("stale")]["burn_rate"] == pytest.approx(5 / 7 / 0.01, rel=1e-3)
    assert ds("b") not in budget  # no objective, no budget


def test_volume_anomaly_only_after_enough_history(collector: Collector) -> None:
    rows = (
        store_of(collector)
        .query_rows(
            "SELECT HistoryRuns, Rows, BaselineMedian, IsAnomaly FROM dataops_volume"
            " WHERE DatasetId = {d:String} ORDER BY Timestamp",
            parameters={"d": ds("b")},
        )
        .rows
    )
    assert [r[0] for r in rows] == list(range(8))
    assert [r[3] for r in rows] == [0, 0, 0, 0, 0, 0, 0, 1]  # none before 5 runs of history
    assert rows[-1][1] == 50 and rows[-1][2] == 1003.0


def test_schema_change_names_the_columns(collector: Collector) -> None:
    changes = answers.schema_changes(store_of(collector), ds("b"))
    assert len(changes) == 1
    assert changes[0]["added"] == ["region"]
    assert changes[0]["removed"] == []
    assert changes[0]["retyped"] == ["amount"]
    conformance = (
        store_of(collector)
        .query_rows(
            "SELECT Writes, ConformingWrites FROM dataops_schema_conformance"
            " WHERE DatasetId = {d:String}",
            parameters={"d": ds("b")},
        )
        .rows[0]
    )
    assert tuple(conformance) == (8, 2)


def test_jobs_success_rate_and_durations(collector: Collector) -> None:
    jobs = {j["job"]: j for j in answers.jobs(store_of(collector))}
    assert jobs["daily"]["runs"] == 8 and jobs["daily"]["success_rate"] == 1.0
    assert jobs["daily"]["p50_seconds"] == 2.0
    assert jobs["flaky"]["failed"] == 1 and jobs["flaky"]["last_status"] == "failed"


def test_cost_with_two_rate_settings(collector: Collector) -> None:
    store = store_of(collector)
    # The first rates (from the collector's defaults) apply to all history.
    # Daily cost applies rates by the start of the day: change them at a midnight.
    midnight = (NOW_NS - 4 * DAY) // DAY * DAY
    assert store_cost_rates(
        store, cpu_second=1.0, gb_scanned=0.0, gb_written=0.5, effective_ns=midnight
    )
    by_dataset = {r["dataset"]: r["cost"] for r in answers.cost(store, since_s=30 * 86400)}
    # b: 8 writes x (2 CPU s + 1 GB written); 4 at the default rates, 4 at the new ones.
    defaults = 2.0 * 0.00005 + 1.0 * 0.02
    assert by_dataset[ds("b")] == pytest.approx(4 * defaults + 4 * (2.0 * 1.0 + 1.0 * 0.5))
    # A read with no output is charged to its input.
    assert by_dataset[ds("d")] == pytest.approx(1.0 * 1.0)
    by_job = {r["job"]: r["cost"] for r in answers.cost(store, since_s=30 * 86400, by="job")}
    assert by_job["report"] == pytest.approx(1.0)
    # The per-event view prices each event at its own time, the same totals here.
    exact = store.query_rows(
        "SELECT sum(Cost) FROM dataops_cost_events WHERE DatasetId = {d:String}",
        parameters={"d": ds("b")},
    ).scalar()
    assert exact == pytest.approx(by_dataset[ds("b")])


def test_lineage_coverage_and_daily_anomalies(collector: Collector) -> None:
    store = store_of(collector)
    written, with_upstream, _ = store.query_rows("SELECT * FROM dataops_lineage_coverage").rows[0]
    # written: a (by backfill), b, c, d, stale; with upstream: a, b, c, d
    assert (written, with_upstream) == (5, 4)
    daily = store.query_rows(
        "SELECT sum(VolumeAnomalies), sum(SchemaChanges), sum(FreshnessBreaches)"
        " FROM dataops_anomaly_daily"
    ).rows[0]
    assert tuple(daily) == (1, 1, 1)
