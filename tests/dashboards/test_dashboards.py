"""Dashboards and alert rules: valid for Grafana, and every query runs on real seeded data."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataops_collector.app import Collector
from tests.collector.otlp import poll, request, running_collector, send_grpc
from tests.collector.test_analytics import ds, history
from tests.dashboards.grafana_macros import TimeRange, expand

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "dashboards" / "json").glob("*.json"))
RULES = ROOT / "dashboards" / "provisioning" / "alerting" / "dataops-rules.yaml"
DATASOURCE_UID = "dataops-clickhouse"
# Columns a panel type needs in its result.
REQUIRED = {"nodeGraph": [{"id", "title", "mainstat"}, {"id", "source", "target"}]}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def panel_queries() -> list[tuple[str, str, str, int, str]]:
    found = []
    for path in DASHBOARDS:
        board = load(path)
        for panel in board["panels"]:
            for index, target in enumerate(panel["targets"]):
                found.append((board["uid"], panel["title"], panel["type"], index, target["rawSql"]))
    return found


def rule_queries() -> list[tuple[str, str]]:
    rules = yaml.safe_load(RULES.read_text())
    return [
        (rule["uid"], query["model"]["rawSql"])
        for group in rules["groups"]
        for rule in group["rules"]
        for query in rule["data"]
        if query["datasourceUid"] == DATASOURCE_UID
    ]


def test_there_are_the_four_dashboards() -> None:
    assert {load(p)["uid"] for p in DASHBOARDS} == {
        "dataops-executive",
        "dataops-oncall",
        "dataops-dataset",
        "dataops-jobs",
    }


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_has_what_grafana_requires(path: Path) -> None:
    board = load(path)
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    assert len(board["uid"]) <= 40
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == DATASOURCE_UID
        assert panel["type"] and panel["title"] and set(panel["gridPos"]) == {"x", "y", "w", "h"}
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID and target["rawSql"].strip()
    for variable in board["templating"]["list"]:
        assert variable["name"] and variable["query"]


def test_alert_rules_have_what_grafana_requires() -> None:
    rules = yaml.safe_load(RULES.read_text())
    assert rules["apiVersion"] == 1
    uids = []
    for group in rules["groups"]:
        assert group["name"] and group["folder"] and group["interval"]
        for rule in group["rules"]:
            uids.append(rule["uid"])
            assert (
                rule["title"]
                and rule["for"] is not None
                and rule["labels"]["severity"] in {"page", "ticket"}
            )
            assert rule["condition"] in {q["refId"] for q in rule["data"]}
            runbook = rule["annotations"]["runbook_url"]
            assert rule["annotations"]["summary"]
            local = ROOT / "docs" / "runbooks" / runbook.rsplit("/", 1)[1]
            assert local.is_file(), f"{rule['uid']}: runbook {local.name} is missing"
    assert len(uids) == len(set(uids)) == 5


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    from dataops_collector.analytics.config_tables import Slo, store_slos

    with running_collector(tmp_path_factory.mktemp("dashboards")) as running:
        assert running.store is not None
        store_slos(
            running.store,
            [
                Slo(ds("b"), 30 * 86400, None, True),  # anomaly and schema change: alerts fire
                Slo(ds("d"), 2 * 86400, None, True),
                Slo(ds("stale"), 86400, None, True),  # a breach: the page fires
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
            what="seeded history",
        )
        yield running


def run_sql(collector: Collector, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    assert collector.store is not None
    now = datetime.now(timezone.utc)
    expanded = expand(
        sql,
        TimeRange(now - timedelta(days=30), now + timedelta(minutes=1), 3600),
        {"dataset": ds("b")},
    )
    result = collector.store.query_rows(expanded)
    return result.column_names, result.rows


@pytest.mark.parametrize(
    ("board", "title", "kind", "index", "sql"),
    panel_queries(),
    ids=lambda v: v if isinstance(v, str) and len(v) < 60 else None,
)
def test_panel_query_runs_and_returns_data(
    collector: Collector, board: str, title: str, kind: str, index: int, sql: str
) -> None:
    columns, rows = run_sql(collector, sql)
    assert rows, f"{board} / {title}: no rows on seeded data"
    if kind in REQUIRED:
        assert REQUIRED[kind][index] <= set(columns), f"{title}: needs {REQUIRED[kind][index]}"
    if kind in {"timeseries", "heatmap"}:
        assert "time" in columns


@pytest.mark.parametrize(("uid", "sql"), rule_queries())
def test_alert_query_runs(collector: Collector, uid: str, sql: str) -> None:
    columns, rows = run_sql(collector, sql)
    assert len(columns) >= 2
    if uid in {"dataops-freshness-breach", "dataops-volume-anomaly", "dataops-schema-change"}:
        assert rows, f"{uid} should fire on the seeded history"


def test_macro_expansion_matches_the_plugin() -> None:
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    span = TimeRange(start, start + timedelta(days=1), interval_s=0.5)
    assert expand("WHERE $__timeFilter(ts)", span) == (
        "WHERE ts >= toDateTime(1793491200) AND ts <= toDateTime(1793577600)"
    )
    assert expand("$__timeFilter_ms(ts)", span).startswith(
        "ts >= fromUnixTimestamp64Milli(1793491200000)"
    )
    assert (
        expand("$__dateFilter(d)", span)
        == "d >= toDate('2026-11-01') AND d <= toDate('2026-11-02')"
    )
    assert (
        expand("$__timeInterval(ts)", span)
        == "toStartOfInterval(toDateTime(ts), INTERVAL 1 second)"
    )
    assert expand("$__fromTime AND $__toTime_ms", span) == (
        "toDateTime(1793491200) AND fromUnixTimestamp64Milli(1793577600000)"
    )
    with pytest.raises(ValueError, match="unexpanded"):
        expand("$__unknownMacro(x)", span)


def test_compose_file_is_complete() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"clickhouse", "collector", "prometheus", "grafana"}
    assert services["collector"]["build"] == "."
    assert {"4317:4317", "4318:4318"} <= set(services["collector"]["ports"])
    assert "3000:3000" in services["grafana"]["ports"]
    assert (
        services["grafana"]["environment"]["GF_INSTALL_PLUGINS"] == "grafana-clickhouse-datasource"
    )
    for name in ("clickhouse", "collector", "grafana"):
        assert "healthcheck" in services[name]
    assert set(compose["volumes"]) == {"clickhouse-data", "prometheus-data", "grafana-data"}
    env_example = (ROOT / ".env.example").read_text()
    for variable in set(re.findall(r"\$\{(\w+):-", (ROOT / "docker-compose.yml").read_text())):
        assert f"{variable}=" in env_example, f"{variable} missing from .env.example"


def compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin) or `docker-compose`: either validates without an engine."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_config_validates() -> None:
    command = compose_command()
    if command is None:
        pytest.skip(
            "neither `docker compose` nor `docker-compose` is installed (.ci/run installs one)"
        )
    done = subprocess.run(
        [*command, "-f", "docker-compose.yml", "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_dockerfile_installs_the_way_the_readme_does() -> None:
    readme = (ROOT / "README.md").read_text()
    install = re.search(r'pip install "\.\[collector\]"', readme)
    assert install is not None, "README's quickstart install command changed"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'pip install --no-cache-dir ".[collector]"' in dockerfile
