"""Which tables a statement reads and writes: table-driven, pure parsing (no database)."""

from __future__ import annotations

import pytest

from dataops_otel.sql_lineage import analyze

# sql, dialect, operation, reads, writes, summary
CASES = [
    ("SELECT * FROM orders WHERE id = 5", "sqlite", "read", ["orders"], [], "SELECT orders"),
    (
        "SELECT o.id FROM orders o JOIN customers c ON o.cid = c.id",
        "postgresql", "read", ["orders", "customers"], [], "SELECT orders customers",
    ),
    (
        "SELECT * FROM orders WHERE cid IN (SELECT id FROM vip)",
        "mysql", "read", ["orders", "vip"], [], "SELECT orders vip",
    ),
    (
        "WITH recent AS (SELECT * FROM raw.orders) SELECT * FROM recent",
        "postgresql", "read", ["raw.orders"], [], "SELECT raw.orders",
    ),
    (
        "SELECT id FROM a UNION ALL SELECT id FROM b EXCEPT SELECT id FROM c",
        "postgresql", "read", ["a", "b", "c"], [], "SELECT a b c",
    ),
    ("INSERT INTO t (a) VALUES (1)", "sqlite", "write", [], ["t"], "INSERT t"),
    (
        "INSERT INTO daily SELECT day, sum(x) FROM orders GROUP BY day",
        "postgresql", "transform", ["orders"], ["daily"], "INSERT daily SELECT orders",
    ),
    (
        "WITH x AS (SELECT * FROM raw.orders) INSERT INTO mart.daily SELECT * FROM x",
        "postgresql", "transform", ["raw.orders"], ["mart.daily"],
        "INSERT mart.daily SELECT raw.orders",
    ),
    (
        "UPDATE orders SET status = 'x' WHERE id IN (SELECT oid FROM returns)",
        "mysql", "transform", ["returns"], ["orders"], "UPDATE orders SELECT returns",
    ),
    ("DELETE FROM orders WHERE id = 3", "mysql", "write", [], ["orders"], "DELETE orders"),
    (
        "MERGE INTO tgt USING src ON tgt.id = src.id WHEN MATCHED THEN UPDATE SET v = src.v",
        "postgresql", "transform", ["src"], ["tgt"], "MERGE tgt SELECT src",
    ),
    (
        "INSERT INTO t (a) VALUES (%(a)s) ON CONFLICT (a) DO UPDATE SET a = 2",
        "postgresql", "write", [], ["t"], "INSERT t",
    ),
    (
        "INSERT INTO t (a) VALUES (%s) ON DUPLICATE KEY UPDATE a = 2",
        "mysql", "write", [], ["t"], "INSERT t",
    ),
    (
        "CREATE TABLE t2 AS SELECT * FROM t1",
        "sqlite", "transform", ["t1"], ["t2"], "CREATE TABLE t2 SELECT t1",
    ),
    (
        "SELECT * INTO backup FROM orders",
        "postgresql", "transform", ["orders"], ["backup"], "SELECT backup SELECT orders",
    ),
    ("TRUNCATE TABLE staging.orders", "postgresql", "write", [], ["staging.orders"],
     "TRUNCATE staging.orders"),
    ("DROP TABLE IF EXISTS old", "sqlite", "write", [], ["old"], "DROP TABLE old"),
    (
        'SELECT * FROM "Sales"."MixedCase" JOIN Lower ON 1 = 1',
        "postgresql", "read", ["Sales.MixedCase", "lower"], [], "SELECT Sales.MixedCase lower",
    ),
    ("SELECT * FROM `Shop`.`Orders`", "mysql", "read", ["Shop.Orders"], [], "SELECT Shop.Orders"),
    ("CREATE TABLE fresh (id INT)", "sqlite", None, [], [], "CREATE TABLE"),
    ("SELECT 1", "sqlite", None, [], [], "SELECT"),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "dialect", "operation", "reads", "writes", "summary"), CASES)
def test_tables_read_and_written(
    sql: str,
    dialect: str,
    operation: str | None,
    reads: list[str],
    writes: list[str],
    summary: str,
) -> None:
    analysis = analyze(sql, dialect)
    assert analysis.parsed
    assert [str(t) for t in analysis.tables_read] == reads
    assert [str(t) for t in analysis.tables_written] == writes
    assert analysis.dataops_operation == operation
    assert analysis.summary == summary


def test_literals_never_reach_the_sanitized_text() -> None:
    analysis = analyze(
        "SELECT * FROM users WHERE email = 'a@b.c' AND age > 41 AND id = %(id)s", "postgresql"
    )
    assert "a@b.c" not in analysis.sanitized_text and "41" not in analysis.sanitized_text
    assert (
        analysis.sanitized_text == "SELECT * FROM users WHERE email = ? AND age > ? AND id = %(id)s"
    )


def test_statement_that_does_not_parse_gets_a_summary_and_no_tables() -> None:
    analysis = analyze("FROBNICATE the 'secret' 42 widgets", "sqlite")
    assert not analysis.parsed
    assert analysis.tables_read == () and analysis.tables_written == ()
    assert analysis.operation_name == "FROBNICATE"
    assert "secret" not in analysis.sanitized_text and "42" not in analysis.sanitized_text


def test_single_collection_only_for_one_table() -> None:
    assert analyze("SELECT * FROM a", "sqlite").collection == "a"
    assert analyze("SELECT * FROM a JOIN b ON 1=1", "sqlite").collection is None


def test_analysis_is_cached_per_text_and_dialect() -> None:
    assert analyze("SELECT * FROM cached_t", "sqlite") is analyze(
        "SELECT * FROM cached_t", "sqlite"
    )
    assert analyze("SELECT * FROM cached_t", "sqlite") is not analyze(
        "SELECT * FROM cached_t", "postgresql"
    )
