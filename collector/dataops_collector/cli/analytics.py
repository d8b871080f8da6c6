"""The on-call commands: datasets, lineage, freshness, anomalies, schema-changes, jobs, cost.

Each talks to ClickHouse over HTTP (the collector's query endpoint or a
server) through clickhouse-connect, prints a table or JSON, and turns every
error a user can make (unknown dataset, unreachable URL, empty database) into
one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from dataops_collector.analytics import answers
from dataops_collector.cli.sql import URL_HELP, open_url_store, resolve_url

_F = TypeVar("_F", bound=Callable[..., Any])
_SINCE = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str) -> int:
    match = _SINCE.match(text.strip())
    if not match:
        raise click.BadParameter(f"use a number and a unit, like 7d, 12h or 30m (got {text!r})")
    return int(match[1]) * _UNIT_S[match[2]]


def with_store(clickhouse_url: str | None, action: Callable[[Any], Any]) -> Any:
    """Run `action(store)`; every error a user can make becomes one clear line."""
    from dataops_collector.storage.errors import StorageError

    store = open_url_store(resolve_url(clickhouse_url))
    try:
        return action(store)
    except answers.UnknownDataset as exc:
        raise click.ClickException(
            f"unknown dataset {exc.args[0]!r}: the collector has never seen it"
        ) from exc
    except StorageError as exc:
        message = str(exc).strip().splitlines()[0]
        if "UNKNOWN_TABLE" in message or "does not exist" in message:
            message = "no DataOps tables there: is this a dataops collector or a migrated database?"
        raise click.ClickException(message) from exc
    finally:
        store.close()


def common(func: _F) -> _F:
    """--clickhouse-url and --format for a command whose first argument is the store."""

    @click.option("--clickhouse-url", help=URL_HELP)
    @click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
    @functools.wraps(func)
    def wrapper(*args: Any, clickhouse_url: str | None, **kwargs: Any) -> Any:
        return with_store(clickhouse_url, lambda store: func(store, *args, **kwargs))

    return wrapper  # type: ignore[return-value]


def emit(rows: list[dict[str, Any]], fmt: str, columns: list[str], empty: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(empty)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_lines=False)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    Console(width=200).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


@click.command("datasets")
@common
def datasets_command(store: Any, fmt: str) -> None:
    """The dataset catalog with freshness and SLO status."""
    rows = answers.datasets(store)
    emit(
        rows,
        fmt,
        [
            "dataset",
            "last_write",
            "freshness_seconds",
            "last_rows",
            "writes",
            "reads",
            "cost",
            "slo_status",
        ],
        "no datasets yet: run a pipeline with the SDK",
    )


@click.command("lineage")
@click.argument("dataset")
@click.option("--direction", type=click.Choice(["upstream", "downstream", "both"]), default="both")
@click.option("--depth", type=click.IntRange(1, 50), default=3)
@click.option("--seen-within", help="Only edges seen within this window, like 30d.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "mermaid", "dot"]), default="table"
)
@click.option("--clickhouse-url", help=URL_HELP)
def lineage_command(
    dataset: str,
    direction: str,
    depth: int,
    seen_within: str | None,
    fmt: str,
    clickhouse_url: str | None,
) -> None:
    """Upstream and downstream datasets of DATASET, through the jobs that link them."""
    window = parse_since(seen_within) if seen_within else None
    graph = with_store(
        clickhouse_url,
        lambda store: answers.lineage(
            store, dataset, direction=direction, depth=depth, seen_within_s=window
        ),
    )
    click.echo(render_lineage(graph, fmt))


def render_lineage(graph: answers.LineageGraph, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(graph.to_json(), indent=2, default=str)
    if fmt == "mermaid":
        ids = {d: f"n{i}" for i, d in enumerate(graph.nodes)}
        lines = ["graph LR"] + [f'    {ids[d]}["{d}"]' for d in graph.nodes]
        lines += [
            f"    {ids[e['source']]} -->|{', '.join(e['jobs'])}| {ids[e['target']]}"
            for e in graph.edges
            if e["source"] in ids and e["target"] in ids
        ]
        return "\n".join(lines)
    if fmt == "dot":
        lines = ["digraph lineage {", "  rankdir=LR;"]
        lines += [
            f'  "{e["source"]}" -> "{e["target"]}" [label="{", ".join(e["jobs"])}"];'
            for e in graph.edges
        ]
        return "\n".join([*lines, "}"])
    return _lineage_tree(graph)


def _lineage_tree(graph: answers.LineageGraph) -> str:
    from rich.console import Console
    from rich.tree import Tree

    tree = Tree(f"[bold]{graph.root}[/bold]")
    for label, near, far in (("upstream", "target", "source"), ("downstream", "source", "target")):
        branch_edges = [e for e in graph.edges if e[near] in graph.nodes]
        if not any(e[near] == graph.root for e in branch_edges):
            continue
        branch = tree.add(f"[dim]{label}[/dim]")
        _grow(branch, graph.root, branch_edges, near, far, {graph.root})
    console = Console(width=200, record=True)
    with console.capture() as capture:
        console.print(tree)
    return capture.get().rstrip()


def _grow(
    node: Any, dataset: str, edges: list[dict[str, Any]], near: str, far: str, path: set[str]
) -> None:
    for edge in edges:
        if edge[near] != dataset:
            continue
        other = edge[far]
        jobs = ", ".join(edge["jobs"]) or "?"
        if other in path:
            node.add(f"{other} [dim](via {jobs}; cycle)[/dim]")
            continue
        child = node.add(f"{other} [dim](via {jobs})[/dim]")
        _grow(child, other, edges, near, far, path | {other})


@click.command("freshness")
@click.option("--window", default="7d", help="Error-budget window, like 7d or 30d.")
@common
def freshness_command(store: Any, fmt: str, window: str) -> None:
    """Age of the last successful write per dataset against its SLO, and budget burn."""
    budget = {
        b["dataset"]: b for b in answers.freshness_budget(store, window_s=parse_since(window))
    }
    rows = answers.freshness(store)
    for row in rows:
        spent = budget.get(row["dataset"], {})
        row["breach_seconds"] = spent.get("breach_seconds")
        row["burn_rate"] = spent.get("burn_rate")
    emit(
        rows,
        fmt,
        [
            "dataset",
            "last_write",
            "freshness_seconds",
            "objective_seconds",
            "critical",
            "status",
            "breach_seconds",
            "burn_rate",
        ],
        "no datasets yet",
    )


@click.command("anomalies")
@click.option("--since", default="7d", help="Window, like 7d or 12h.")
@common
def anomalies_command(store: Any, fmt: str, since: str) -> None:
    """Volume anomalies, schema changes and freshness breaches."""
    emit(
        answers.anomalies(store, since_s=parse_since(since)),
        fmt,
        ["time", "dataset", "kind", "detail"],
        "no anomalies",
    )


@click.command("schema-changes")
@click.argument("dataset")
@common
def schema_changes_command(store: Any, fmt: str, dataset: str) -> None:
    """Schema versions of DATASET: columns added, removed and retyped."""
    answers.lineage(store, dataset, depth=1)  # raises UnknownDataset for a typo
    emit(
        answers.schema_changes(store, dataset),
        fmt,
        ["time", "previous_schema_hash", "schema_hash", "added", "removed", "retyped"],
        "no schema changes",
    )


@click.command("jobs")
@common
def jobs_command(store: Any, fmt: str) -> None:
    """Runs per job: success rate and p50/p95 duration."""
    emit(
        answers.jobs(store),
        fmt,
        [
            "job",
            "runs",
            "succeeded",
            "failed",
            "success_rate",
            "p50_seconds",
            "p95_seconds",
            "last_run",
            "last_status",
        ],
        "no runs yet: wrap pipelines in dataops_otel.job(...)",
    )


@click.command("cost")
@click.option("--since", default="7d", help="Window, like 7d or 12h.")
@click.option("--by", type=click.Choice(["dataset", "job"]), default="dataset")
@common
def cost_command(store: Any, fmt: str, since: str, by: str) -> None:
    """Cost per dataset or job from CPU seconds and bytes at the configured rates."""
    emit(
        answers.cost(store, since_s=parse_since(since), by=by),
        fmt,
        [by, "cost", "cpu_seconds", "bytes_scanned", "bytes_written"],
        "no cost recorded",
    )


COMMANDS: list[click.Command] = [
    datasets_command,
    lineage_command,
    freshness_command,
    anomalies_command,
    schema_changes_command,
    jobs_command,
    cost_command,
]
