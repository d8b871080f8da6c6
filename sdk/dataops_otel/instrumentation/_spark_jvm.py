"""What the Spark instrumentor reads from the JVM, through py4j, without running jobs.

* Inputs: the leaves of the DataFrame's *analyzed* logical plan (the plan is
  already built when an action is called; reading it runs nothing): file
  relations (every root path: a partitioned directory is one dataset),
  catalog tables (their location, with the catalog name kept as an alias),
  JDBC relations (the same ids SQLAlchemy gives).
* Write facts: Spark's own SQL metrics of the execution that the action ran
  (``number of output rows``, ``number of written files``), read from the SQL
  status store once the listener bus has recorded the execution's end (a
  bounded wait), and executor CPU time from the stages of its jobs.

Every function here may fail on an unusual plan or another Spark version: the
callers run them under the guard and lose only the facts, never the action.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from dataops_otel.datasets import dataset_id_for_jdbc, dataset_id_for_path


@dataclass
class PlanInputs:
    datasets: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)


def _seq(seq: Any) -> list[Any]:
    return [seq.apply(i) for i in range(seq.size())]


def plan_inputs(jplan: Any) -> PlanInputs:
    """Datasets read by a logical plan: files, catalog tables and JDBC tables."""
    found = PlanInputs()
    for leaf in _seq(jplan.collectLeaves()):
        kind = leaf.getClass().getSimpleName()
        if kind == "LogicalRelation":
            _logical_relation(leaf, found)
        elif kind == "HiveTableRelation":
            _catalog_table(leaf.tableMeta(), found)
    return found


def _logical_relation(leaf: Any, found: PlanInputs) -> None:
    relation = leaf.relation()
    catalog_table = leaf.catalogTable()
    if catalog_table.isDefined():
        _catalog_table(catalog_table.get(), found)
        return
    kind = relation.getClass().getSimpleName()
    if kind == "HadoopFsRelation":
        for path in _seq(relation.location().rootPaths()):
            _add(found.datasets, dataset_id_for_path(path.toString()))
        _add(found.formats, relation.fileFormat().toString().lower())
    elif kind == "JDBCRelation":
        options = relation.jdbcOptions()
        _add(found.datasets, dataset_id_for_jdbc(options.url(), options.tableOrQuery()))
        _add(found.formats, "jdbc")


def _catalog_table(table: Any, found: PlanInputs) -> None:
    location = table.location().toString()
    if location:
        _add(found.datasets, dataset_id_for_path(location))
    _add(found.aliases, catalog_name(table.identifier()))
    _add(found.formats, "table")


def catalog_name(identifier: Any) -> str:
    """``spark_catalog.default.orders`` for a table identifier."""
    catalog = identifier.catalog()
    database = identifier.database()
    parts = [
        catalog.get() if catalog.isDefined() else "spark_catalog",
        database.get() if database.isDefined() else "default",
        identifier.table(),
    ]
    return ".".join(parts)


def table_location(jsession: Any, name: str) -> tuple[str | None, str]:
    """(dataset id of a catalog table's location, its catalog name)."""
    catalog = jsession.sessionState().catalog()
    identifier = jsession.sessionState().sqlParser().parseTableIdentifier(name)
    table = catalog.getTableMetadata(identifier)
    location = table.location().toString()
    return (dataset_id_for_path(location) if location else None), catalog_name(table.identifier())


def _add(target: list[str], value: str) -> None:
    if value and value not in target:
        target.append(value)


def last_execution_id(jsession: Any) -> int:
    executions = jsession.sharedState().statusStore().executionsList()
    size = int(executions.size())
    return int(executions.apply(size - 1).executionId()) if size else -1


@dataclass
class ExecutionFacts:
    rows: int | None = None
    files: int | None = None
    cpu_seconds: float | None = None


def execution_facts(jsession: Any, after_id: int, *, wait_s: float = 3.0) -> ExecutionFacts:
    """Write metrics and executor CPU of the executions that started after `after_id`.

    The SQL status store learns about an execution's end from the listener
    bus, asynchronously; wait for it at most `wait_s` (usually milliseconds).
    """
    store = jsession.sharedState().statusStore()
    deadline = time.monotonic() + wait_s
    executions: list[Any] = []
    while True:
        executions = [e for e in _seq(store.executionsList()) if e.executionId() > after_id]
        if executions and all(e.completionTime().isDefined() for e in executions):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    facts = ExecutionFacts()
    for execution in executions:
        _write_metrics(store, execution, facts)
    facts.cpu_seconds = _executor_cpu(jsession, executions)
    return facts


def _write_metrics(store: Any, execution: Any, facts: ExecutionFacts) -> None:
    execution_id = execution.executionId()
    values = store.executionMetrics(execution_id)
    for node in _seq(store.planGraph(execution_id).allNodes()):
        if (
            "Insert" not in node.name()
            and "Write" not in node.name()
            and "AsSelect" not in node.name()
        ):
            continue
        for metric in _seq(node.metrics()):
            value = values.get(metric.accumulatorId())
            if not value.isDefined():
                continue
            number = _number(value.get())
            if metric.name() == "number of output rows":
                facts.rows = (facts.rows or 0) + number
            elif metric.name() == "number of written files":
                facts.files = (facts.files or 0) + number


def _number(text: str) -> int:
    digits = "".join(c for c in str(text).split("(")[0] if c.isdigit())
    return int(digits) if digits else 0


def _executor_cpu(jsession: Any, executions: list[Any]) -> float | None:
    app_store = jsession.sparkContext().statusStore()
    total_ns = 0
    seen = False
    for execution in executions:
        for job_id in _seq(execution.jobs().keys().toSeq()):
            for stage_id in _seq(app_store.job(int(job_id)).stageIds()):
                total_ns += int(app_store.lastStageAttempt(int(stage_id)).executorCpuTime())
                seen = True
    return round(total_ns / 1e9, 6) if seen else None
