"""Which tables a SQL statement reads and writes, its summary and sanitised text.

Parsing uses sqlglot in the database's dialect (a real SQL parser, so joins,
subqueries, CTEs and set operations are walked properly, and quoted names keep
their case while unquoted ones are normalised the way the dialect does).
Results are cached per (statement text, dialect) in a bounded LRU, since
pipelines run the same statements again and again. A statement that does not
parse still gets a summary and a sanitised text from a conservative fallback,
and no tables.

Pure functions, no SQLAlchemy: the instrumentor resolves the table references
to dataset ids.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Final

MAX_SUMMARY_CHARS: Final = 255
MAX_TEXT_CHARS: Final = 8_192

OPERATION_READ: Final = "read"
OPERATION_WRITE: Final = "write"
OPERATION_TRANSFORM: Final = "transform"
OPERATION_QUERY: Final = "query"


@dataclass(frozen=True)
class TableRef:
    """A table as the statement names it: ``catalog.db.name`` (parts may be empty)."""

    name: str
    db: str = ""
    catalog: str = ""

    def __str__(self) -> str:
        return ".".join(p for p in (self.catalog, self.db, self.name) if p)


@dataclass(frozen=True)
class SqlAnalysis:
    operation_name: str  # db.operation.name: SELECT, INSERT, UPDATE, MERGE, ...
    summary: str  # db.query.summary: "INSERT orders SELECT raw_orders"
    sanitized_text: str  # literals replaced by ?
    tables_read: tuple[TableRef, ...]
    tables_written: tuple[TableRef, ...]
    parsed: bool

    @property
    def dataops_operation(self) -> str | None:
        """``read``/``write``/``transform`` when tables are involved, else None."""
        if self.tables_written:
            return OPERATION_TRANSFORM if self.tables_read else OPERATION_WRITE
        if self.tables_read:
            return OPERATION_READ
        return None

    @property
    def collection(self) -> str | None:
        """``db.collection.name``: only for statements on exactly one table."""
        tables = set(self.tables_read) | set(self.tables_written)
        return str(next(iter(tables))) if len(tables) == 1 else None


SQLGLOT_DIALECTS: Final = {
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "mssql": "tsql",
    "oracle": "oracle",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "clickhouse": "clickhouse",
}


@functools.lru_cache(maxsize=4096)
def analyze(sql: str, dialect: str | None = None) -> SqlAnalysis:
    """Analyse one statement text (cached). `dialect` is SQLAlchemy's dialect name."""
    read_dialect = SQLGLOT_DIALECTS.get(dialect or "", dialect)
    try:
        return _analyze_parsed(sql, read_dialect)
    except Exception:  # sqlglot raises several error types; any failure -> fallback
        return _fallback(sql)


def _analyze_parsed(sql: str, dialect: str | None) -> SqlAnalysis:
    import sqlglot
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    # DBAPI pyformat placeholders (psycopg, PyMySQL) are not SQL: parse them as
    # standard ones. Only the parse sees this; values are never in the text.
    parsable = _PYFORMAT.sub(lambda m: f":{m[1]}" if m[1] else "?", sql)
    statements = [s for s in sqlglot.parse(parsable, read=dialect) if s is not None]
    if not statements:
        return _fallback(sql)
    read: list[TableRef] = []
    written: list[TableRef] = []
    names: list[str] = []
    for statement in statements:
        if isinstance(statement, sqlglot.exp.Command):  # sqlglot could not really parse it
            return _fallback(sql)
        statement = normalize_identifiers(statement, dialect=dialect)
        targets = _write_targets(statement)
        _extend(written, [_ref(t) for t in targets])
        # A plain CREATE TABLE (DDL, no data) neither reads nor writes its table.
        defined = _tables_in(statement.this) if isinstance(statement, sqlglot.exp.Create) else []
        _extend(read, [_ref(t) for t in _tables_read(statement, targets + defined)])
        names.append(_operation_name(statement))
    sanitized = "; ".join(_sanitize(s, dialect) for s in statements)[:MAX_TEXT_CHARS]
    operation = names[0] if len(set(names)) == 1 else "BATCH"
    return SqlAnalysis(
        operation_name=operation,
        summary=_summary(operation, written, read),
        sanitized_text=sanitized,
        tables_read=tuple(read),
        tables_written=tuple(written),
        parsed=True,
    )


def _write_targets(statement: Any) -> list[Any]:
    from sqlglot import exp

    node: Any = None
    if isinstance(statement, (exp.Insert, exp.Update, exp.Delete, exp.Merge)):
        node = statement.this
    elif isinstance(statement, exp.Create) and str(statement.args.get("kind", "")).upper() in {
        "TABLE",
        "VIEW",
    }:
        node = statement.this if statement.expression is not None else None
    elif isinstance(statement, exp.Drop) and str(statement.args.get("kind", "")).upper() == "TABLE":
        return list(statement.find_all(exp.Table))
    elif isinstance(statement, exp.TruncateTable):
        return [t for e in statement.expressions for t in _tables_in(e)]
    elif isinstance(statement, exp.Select) and statement.args.get("into") is not None:
        node = statement.args["into"]
    return _tables_in(node) if node is not None else []


def _tables_in(node: Any) -> list[Any]:
    from sqlglot import exp

    if isinstance(node, exp.Table):
        return [node]
    if isinstance(node, (exp.Schema, exp.Into, exp.Alias)):
        return [t for t in node.find_all(exp.Table)][:1]
    return [t for t in node.find_all(exp.Table)][:1] if hasattr(node, "find_all") else []


def _tables_read(statement: Any, targets: list[Any]) -> list[Any]:
    from sqlglot import exp

    cte_names = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    target_ids = {id(t) for t in targets}
    found = []
    for table in statement.find_all(exp.Table, bfs=False):
        if id(table) in target_ids or not table.name:
            continue
        if not table.db and table.name in cte_names:
            continue  # a CTE is not a table
        found.append(table)
    return found


_SYSTEM_SCHEMAS: Final = {"information_schema", "pg_catalog", "performance_schema", "mysql", "sys"}
_SYSTEM_TABLES: Final = {"sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_sequence"}


def is_system_table(table: TableRef) -> bool:
    """Catalog tables that drivers and pandas query for introspection: not datasets."""
    return (
        table.name.lower() in _SYSTEM_TABLES
        or table.name.lower().startswith("pg_")
        or table.db.lower() in _SYSTEM_SCHEMAS
    )


def _ref(table: Any) -> TableRef:
    return TableRef(name=table.name, db=table.db or "", catalog=table.catalog or "")


def _extend(target: list[TableRef], refs: list[TableRef]) -> None:
    for ref in refs:
        if ref not in target and not is_system_table(ref):
            target.append(ref)


def _operation_name(statement: Any) -> str:
    from sqlglot import exp

    if isinstance(statement, exp.Create):
        kind = str(statement.args.get("kind") or "").upper()
        return f"CREATE {kind}".strip()
    if isinstance(statement, exp.Drop):
        return f"DROP {str(statement.args.get('kind') or '').upper()}".strip()
    if isinstance(statement, exp.TruncateTable):
        return "TRUNCATE"
    if isinstance(statement, (exp.Union, exp.Intersect, exp.Except)):
        return "SELECT"
    return str(statement.key).upper()


def _summary(operation: str, written: list[TableRef], read: list[TableRef]) -> str:
    parts = [operation, *(str(t) for t in written)]
    if read:
        parts += (["SELECT"] if written else []) + [str(t) for t in read]
    return " ".join(parts)[:MAX_SUMMARY_CHARS]


def _sanitize(statement: Any, dialect: str | None) -> str:
    from sqlglot import exp

    def replace(node: Any) -> Any:
        if isinstance(node, exp.Literal):
            return exp.Var(this="?")
        return node

    return str(statement.transform(replace).sql(dialect=dialect))


_PYFORMAT = re.compile(r"%\((\w+)\)s|%s")
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")


def sanitize_text(sql: str) -> str:
    """Conservative literal removal for text that did not parse."""
    return _NUMBER.sub("?", _STRING.sub("?", sql))[:MAX_TEXT_CHARS]


def _fallback(sql: str) -> SqlAnalysis:
    words = sql.strip().split(None, 1)
    operation = words[0].upper() if words else ""
    return SqlAnalysis(
        operation_name=operation,
        summary=operation[:MAX_SUMMARY_CHARS],
        sanitized_text=sanitize_text(sql),
        tables_read=(),
        tables_written=(),
        parsed=False,
    )
