"""The questions an on-call engineer asks, as parameterised queries over the views.

Every function takes a `Store` (embedded, server, or the query endpoint through
clickhouse-connect: same SQL) and returns plain Python values that the CLI
renders as tables or JSON. Values travel as ``{name:Type}`` parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from dataops_collector.storage.base import Store

DEFAULT_WINDOW_S = 30 * 86400


class UnknownDataset(LookupError):
    """The dataset id was never seen by the collector."""


def iso(value: Any) -> str | None:
    """ISO 8601 UTC text for a timestamp from either backend (None stays None)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return str(value.astimezone(timezone.utc).isoformat()).replace("+00:00", "Z")
    return str(value)


def datasets(store: Store, *, cost_window_s: int = DEFAULT_WINDOW_S) -> list[dict[str, Any]]:
    result = store.query_rows(
        """
        SELECT c.DatasetId, c.Namespace, c.Name,
               -- ISO 8601 text from ClickHouse: cheaper than 10,000 Python datetimes.
               if(c.LastWrite IS NULL, NULL,
                  formatDateTime(assumeNotNull(c.LastWrite), '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC')),
               f.FreshnessSeconds, c.LastRows,
               c.LastSchemaHash, c.Writes, c.Reads, ifNull(k.Cost, 0), f.Status, f.ObjectiveSeconds
        FROM dataops_catalog AS c
        LEFT JOIN dataops_freshness AS f ON c.DatasetId = f.DatasetId
        LEFT JOIN (
            -- Filter the days before pricing them (the view prices all days).
            SELECT d.DatasetId AS DatasetId,
                   sum(d.CpuSeconds * r.CpuSecond + d.BytesScanned / 1e9 * r.GbScanned
                       + d.BytesWritten / 1e9 * r.GbWritten) AS Cost
            FROM (
                SELECT DatasetId, Day, 1 AS k, sum(CpuSeconds) AS CpuSeconds,
                       sum(BytesScanned) AS BytesScanned, sum(BytesWritten) AS BytesWritten
                FROM dataops_cost_daily
                WHERE Day >= toStartOfDay(now64(9) - toIntervalSecond({window:UInt32}))
                GROUP BY DatasetId, Day
            ) AS d
            ASOF LEFT JOIN (SELECT 1 AS k, * FROM dataops_cost_rates FINAL) AS r
                ON d.k = r.k AND d.Day >= r.EffectiveFrom
            GROUP BY d.DatasetId
        ) AS k ON c.DatasetId = k.DatasetId
        ORDER BY c.DatasetId
        """,
        parameters={"window": cost_window_s},
    )
    return [
        {
            "dataset": r[0],
            "namespace": r[1],
            "name": r[2],
            "last_write": iso(r[3]),
            "freshness_seconds": r[4],
            "last_rows": r[5],
            "schema_hash": r[6] or None,
            "writes": int(r[7] or 0),
            "reads": int(r[8] or 0),
            "cost": round(float(r[9] or 0), 6),
            "slo_status": r[10] or None,
            "freshness_objective_seconds": r[11],
        }
        for r in result.rows
    ]


@dataclass
class LineageGraph:
    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "nodes": list(self.nodes.values()), "edges": self.edges}


def lineage(
    store: Store,
    root: str,
    *,
    direction: str = "both",
    depth: int = 3,
    seen_within_s: int | None = None,
) -> LineageGraph:
    """Walk dataset-level edges from `root`, one query per level; cycles stop the walk."""
    known = store.query_rows(
        "SELECT count() FROM dataops_dataset_state WHERE DatasetId = {d:String}",
        parameters={"d": root},
    ).scalar()
    if not known:
        raise UnknownDataset(root)
    graph = LineageGraph(root=root)
    graph.nodes[root] = {"dataset": root, "depth": 0}
    directions = ["upstream", "downstream"] if direction == "both" else [direction]
    edge_keys: set[tuple[str, str]] = set()
    for way in directions:
        _walk(store, graph, way, depth, seen_within_s, edge_keys)
    _describe_nodes(store, graph)
    return graph


def _walk(
    store: Store,
    graph: LineageGraph,
    way: str,
    depth: int,
    seen_within_s: int | None,
    edge_keys: set[tuple[str, str]],
) -> None:
    near = "Target" if way == "upstream" else "Source"
    frontier, visited = [graph.root], {graph.root}
    recent = "AND LastSeen >= now64(9) - toIntervalSecond({window:UInt32})" if seen_within_s else ""
    for level in range(1, depth + 1):
        if not frontier:
            return
        rows = store.query_rows(
            f"SELECT Source, Target, Jobs, LastSeen, Events FROM dataops_lineage"
            f" WHERE {near} IN {{frontier:Array(String)}} {recent} ORDER BY Source, Target",
            parameters={"frontier": frontier, "window": seen_within_s or 0},
        ).rows
        next_frontier = []
        for source, target, jobs, last_seen, events in rows:
            if (source, target) not in edge_keys:
                edge_keys.add((source, target))
                graph.edges.append(
                    {
                        "source": source,
                        "target": target,
                        "jobs": list(jobs),
                        "last_seen": iso(last_seen),
                        "events": int(events),
                    }
                )
            other = source if way == "upstream" else target
            if other not in visited:  # a cycle ends here
                visited.add(other)
                next_frontier.append(other)
                graph.nodes.setdefault(
                    other, {"dataset": other, "depth": level if way == "downstream" else -level}
                )
        frontier = next_frontier


def _describe_nodes(store: Store, graph: LineageGraph) -> None:
    rows = store.query_rows(
        "SELECT DatasetId, LastWrite, LastRows FROM dataops_catalog"
        " WHERE DatasetId IN {ids:Array(String)}",
        parameters={"ids": list(graph.nodes)},
    ).rows
    for dataset, last_write, last_rows in rows:
        graph.nodes[dataset].update({"last_write": iso(last_write), "last_rows": last_rows})


def freshness(store: Store) -> list[dict[str, Any]]:
    rows = store.query_rows(
        "SELECT DatasetId, LastWrite, FreshnessSeconds, ObjectiveSeconds, Critical, Status"
        " FROM dataops_freshness ORDER BY Status = 'breach' DESC, Critical DESC, DatasetId"
    ).rows
    return [
        {
            "dataset": r[0],
            "last_write": iso(r[1]),
            "freshness_seconds": r[2],
            "objective_seconds": r[3],
            "critical": bool(r[4]),
            "status": r[5],
        }
        for r in rows
    ]


def freshness_budget(store: Store, *, window_s: int = 7 * 86400) -> list[dict[str, Any]]:
    """Error-budget burn of the freshness SLO over a window (M1).

    Breach time is every stretch without a fresh write longer than the
    objective: the part of each gap between consecutive successful writes (and
    of the gap from the last write to now) beyond the objective. The budget is
    ``1 - target`` of the window (target 0.99 unless the SLO file sets
    ``freshness_target``); a burn rate of 1 spends exactly the budget, 2 twice
    as fast. Time before the first write in the window counts as a gap from
    the window's start (conservative for datasets created inside the window).
    """
    rows = store.query_rows(
        """
        SELECT g.DatasetId, o.FreshnessObjectiveSeconds AS objective, o.FreshnessTarget AS target,
               sum(greatest(0, g.gap - objective))
                 + greatest(0, toInt64(dateDiff('second', max(g.t), now64(9))) - objective)
                 AS breach_seconds,
               breach_seconds / {w:UInt32} AS breach_fraction,
               breach_fraction / greatest(1 - target, 1e-9) AS burn_rate
        FROM (
            SELECT DatasetId, EndTime AS t,
                   greatest(lagInFrame(EndTime) OVER w,
                            now64(9) - toIntervalSecond({w:UInt32})) AS since,
                   toInt64(dateDiff('second', since, EndTime)) AS gap
            FROM dataops_dataset_events
            WHERE Role = 'output' AND IsCounted AND IsSuccess
              AND WriteMode NOT IN ('drop', 'truncate')
              AND EndTime >= now64(9) - toIntervalSecond({w:UInt32})
            WINDOW w AS (PARTITION BY DatasetId ORDER BY EndTime
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        ) AS g
        INNER JOIN dataops_dataset_slo AS o ON g.DatasetId = o.DatasetId
        WHERE o.FreshnessObjectiveSeconds IS NOT NULL
        GROUP BY g.DatasetId, objective, target
        ORDER BY burn_rate DESC, g.DatasetId
        """,
        parameters={"w": window_s},
    ).rows
    return [
        {
            "dataset": r[0],
            "objective_seconds": r[1],
            "target": r[2],
            "breach_seconds": int(r[3]),
            "breach_fraction": round(float(r[4]), 6),
            "burn_rate": round(float(r[5]), 3),
        }
        for r in rows
    ]


def anomalies(store: Store, *, since_s: int = 7 * 86400) -> list[dict[str, Any]]:
    rows = store.query_rows(
        """
        SELECT Timestamp, DatasetId, 'volume' AS kind,
               concat('rows ', toString(Rows), ' vs median ', toString(BaselineMedian),
                      ' (score ', toString(round(Score, 1)), ')') AS detail
        FROM dataops_volume WHERE IsAnomaly AND Timestamp >= now64(9) - toIntervalSecond({s:UInt32})
        UNION ALL
        SELECT Timestamp, DatasetId, 'schema',
               concat('added ', toString(Added), ' removed ', toString(Removed),
                      ' retyped ', toString(Retyped))
        FROM dataops_schema_changes WHERE Timestamp >= now64(9) - toIntervalSecond({s:UInt32})
        UNION ALL
        SELECT now64(9), DatasetId, 'freshness',
               concat('last write ', toString(FreshnessSeconds), ' s ago, objective ',
                      toString(ObjectiveSeconds), ' s')
        FROM dataops_freshness WHERE Status = 'breach'
        ORDER BY 1 DESC
        """,
        parameters={"s": since_s},
    ).rows
    return [{"time": iso(r[0]), "dataset": r[1], "kind": r[2], "detail": r[3]} for r in rows]


def schema_changes(store: Store, dataset: str) -> list[dict[str, Any]]:
    rows = store.query_rows(
        "SELECT Timestamp, PreviousSchemaHash, SchemaHash, Added, Removed, Retyped"
        " FROM dataops_schema_changes WHERE DatasetId = {d:String} ORDER BY Timestamp",
        parameters={"d": dataset},
    ).rows
    return [
        {
            "time": iso(r[0]),
            "previous_schema_hash": r[1],
            "schema_hash": r[2],
            "added": list(r[3]),
            "removed": list(r[4]),
            "retyped": list(r[5]),
        }
        for r in rows
    ]


def jobs(store: Store) -> list[dict[str, Any]]:
    rows = store.query_rows(
        "SELECT JobName, Runs, SucceededRuns, FailedRuns, SuccessRate, P50DurationSeconds,"
        " P95DurationSeconds, LastRun, LastStatus FROM dataops_job_health ORDER BY JobName"
    ).rows
    return [
        {
            "job": r[0],
            "runs": int(r[1]),
            "succeeded": int(r[2]),
            "failed": int(r[3]),
            "success_rate": round(float(r[4]), 4),
            "p50_seconds": round(float(r[5]), 3),
            "p95_seconds": round(float(r[6]), 3),
            "last_run": iso(r[7]),
            "last_status": r[8],
        }
        for r in rows
    ]


def cost(store: Store, *, since_s: int, by: str = "dataset") -> list[dict[str, Any]]:
    """Cost over the last `since_s` seconds, in whole UTC days (the daily aggregate)."""
    column = {"dataset": "DatasetId", "job": "JobName"}[by]
    rows = store.query_rows(
        f"SELECT {column}, sum(Cost), sum(CpuSeconds), sum(BytesScanned), sum(BytesWritten)"
        " FROM dataops_cost_by_day"
        " WHERE Day >= toStartOfDay(now64(9) - toIntervalSecond({s:UInt32}))"
        f" GROUP BY {column} ORDER BY sum(Cost) DESC, {column}",
        parameters={"s": since_s},
    ).rows
    return [
        {
            by: r[0],
            "cost": round(float(r[1]), 6),
            "cpu_seconds": round(float(r[2]), 6),
            "bytes_scanned": int(r[3]),
            "bytes_written": int(r[4]),
        }
        for r in rows
    ]
