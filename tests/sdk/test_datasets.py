"""Dataset ids: one table of expected ids per store, and round trips through split."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from dataops_otel.datasets import (
    dataset_id,
    dataset_id_for_jdbc,
    dataset_id_for_path,
    dataset_id_for_sqlalchemy,
    dataset_id_for_url,
    split_dataset_id,
)

HOME = os.path.expanduser("~")
CWD = os.getcwd()

PATHS = [
    ("/data/orders.csv", "file:///data/orders.csv"),
    ("/data/raw/", "file:///data/raw"),
    ("/data//raw/./x/../orders.csv", "file:///data/raw/orders.csv"),
    ("/data/my orders.csv", "file:///data/my orders.csv"),
    ("/data/zürich/straße.parquet", "file:///data/zürich/straße.parquet"),
    ("~/orders.csv", f"file://{HOME}/orders.csv"),
    ("rel/orders.csv", f"file://{CWD}/rel/orders.csv"),
    ("file:///data/orders.csv", "file:///data/orders.csv"),
    ("file:/data/orders.csv", "file:///data/orders.csv"),
    ("file://localhost/data/orders.csv", "file:///data/orders.csv"),
    ("file:///data/my%20orders.csv", "file:///data/my orders.csv"),
    ("s3://bucket/raw/orders.csv", "s3://bucket/raw/orders.csv"),
    ("s3a://bucket/raw/orders/", "s3://bucket/raw/orders"),
    ("s3n://bucket/raw//orders.csv", "s3://bucket/raw/orders.csv"),
    ("S3://bucket/k", "s3://bucket/k"),
    ("s3://AKIAXXX:secretkey@bucket/k.csv", "s3://bucket/k.csv"),
    ("s3://bucket/k.csv?X-Amz-Signature=abc&X-Amz-Credential=x", "s3://bucket/k.csv"),
    ("s3://bucket", "s3://bucket"),
    ("s3://bucket/", "s3://bucket"),
    ("gs://bucket/a/b.parquet", "gs://bucket/a/b.parquet"),
    ("gcs://bucket/a/b.parquet", "gs://bucket/a/b.parquet"),
    (
        "abfss://raw@acct.dfs.core.windows.net/orders/2024/",
        "abfss://raw@acct.dfs.core.windows.net/orders/2024",
    ),
    (
        "abfs://raw@acct.dfs.core.windows.net/o.csv?sv=2022&sig=SECRET",
        "abfss://raw@acct.dfs.core.windows.net/o.csv",
    ),
    ("hdfs://namenode/warehouse/orders", "hdfs://namenode:8020/warehouse/orders"),
    ("hdfs://namenode:9000/warehouse/orders/", "hdfs://namenode:9000/warehouse/orders"),
    ("hdfs://user:pw@namenode/w/../x", "hdfs://namenode:8020/x"),
    ("https://user:token@example.com/d/o.csv?token=1#frag", "https://example.com/d/o.csv"),
]


@pytest.mark.parametrize(("path", "expected"), PATHS)
def test_dataset_id_for_path(path: str, expected: str) -> None:
    assert dataset_id_for_path(path) == expected


def test_path_objects_and_file_urls_agree(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    expected = f"file://{target}"
    assert dataset_id_for_path(target) == expected
    assert dataset_id_for_path(str(target)) == expected
    assert dataset_id_for_path(target.as_uri()) == expected
    assert dataset_id_for_url(target.as_uri()) == expected


@pytest.mark.parametrize(
    "bad", ["", "hdfs:///no/namenode", "s3:///key-without-bucket", "s3://user:pw@/k"]
)
def test_bad_paths_raise_clear_errors(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        dataset_id_for_path(bad)
    assert "pw" not in str(info.value)


def test_url_helper_rejects_plain_paths() -> None:
    with pytest.raises(ValueError, match="no scheme"):
        dataset_id_for_url("/data/x.csv")


SQLALCHEMY = [
    (
        "postgresql://db.internal/shop",
        "orders",
        None,
        "postgres://db.internal:5432/shop.public.orders",
    ),
    (
        "postgresql+psycopg://u:p@db.internal:6432/shop",
        "orders",
        "sales",
        "postgres://db.internal:6432/shop.sales.orders",
    ),
    (
        "postgresql+psycopg2://u@localhost/shop",
        "Orders",
        None,
        "postgres://localhost:5432/shop.public.Orders",
    ),
    (
        "postgresql+asyncpg://u:p%40ss@10.0.0.5/shop?sslmode=require",
        "o",
        None,
        "postgres://10.0.0.5:5432/shop.public.o",
    ),
    ("postgresql://[::1]:5433/shop", "o", None, "postgres://[::1]:5433/shop.public.o"),
    ("postgresql://analyst@db/", "o", None, "postgres://db:5432/analyst.public.o"),
    ("mysql://root@127.0.0.1/test", "orders", None, "mysql://127.0.0.1:3306/test.orders"),
    (
        "mysql+pymysql://root:pw@127.0.0.1:3307/test?charset=utf8mb4",
        "orders",
        None,
        "mysql://127.0.0.1:3307/test.orders",
    ),
    ("mariadb+mariadbconnector://u:p@maria/shop", "orders", None, "mysql://maria:3306/shop.orders"),
    ("mysql+aiomysql://u@maria/shop", "orders", "other", "mysql://maria:3306/other.orders"),
    ("sqlite:////srv/shop.db", "orders", None, "sqlite:///srv/shop.db.orders"),
    ("sqlite+aiosqlite:////srv/shop.db", "orders", "main", "sqlite:///srv/shop.db.orders"),
    ("sqlite:///shop.db", "orders", None, f"sqlite://{CWD}/shop.db.orders"),
    ("sqlite://", "orders", None, "sqlite://memory.orders"),
    ("sqlite:///:memory:", "orders", None, "sqlite://memory.orders"),
    ("mssql+pyodbc://u:p@sql.corp:1433/dw", "fact", "dbo", "mssql://sql.corp:1433/dw.dbo.fact"),
]


@pytest.mark.parametrize(("url", "table", "schema", "expected"), SQLALCHEMY)
def test_dataset_id_for_sqlalchemy(url: str, table: str, schema: str | None, expected: str) -> None:
    assert dataset_id_for_sqlalchemy(url, table, schema) == expected
    assert dataset_id_for_sqlalchemy(sa.make_url(url), table, schema) == expected


def test_sqlalchemy_database_override() -> None:
    url = "postgresql://h/shop"
    assert dataset_id_for_sqlalchemy(url, "o", "s", database="dw") == "postgres://h:5432/dw.s.o"


def test_sqlalchemy_engine_url_and_relative_sqlite(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/shop.db")
    try:
        assert (
            dataset_id_for_sqlalchemy(engine.url, "orders") == f"sqlite://{tmp_path}/shop.db.orders"
        )
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "table"), [("mysql://h", "orders"), ("not a url", "t"), ("postgresql://h/db", "")]
)
def test_sqlalchemy_bad_input(url: str, table: str) -> None:
    with pytest.raises(ValueError):
        dataset_id_for_sqlalchemy(url, table)


JDBC = [
    (
        "jdbc:postgresql://db.internal/shop",
        "orders",
        "postgresql://db.internal/shop",
        "orders",
        None,
    ),
    (
        "jdbc:postgresql://db.internal:6432/shop?user=u&password=secret",
        "sales.orders",
        "postgresql://db.internal:6432/shop",
        "orders",
        "sales",
    ),
    ("jdbc:postgresql:shop", "orders", "postgresql://localhost/shop", "orders", None),
    (
        "jdbc:postgresql://h/shop",
        '"Sales"."Order.Items"',
        "postgresql://h/shop",
        "Order.Items",
        "Sales",
    ),
    (
        "jdbc:mysql://root:secret@127.0.0.1:3306/test",
        "orders",
        "mysql://127.0.0.1/test",
        "orders",
        None,
    ),
    ("jdbc:mysql://h1:3306,h2:3306/test?useSSL=false", "orders", "mysql://h1/test", "orders", None),
    ("jdbc:mariadb://maria/shop", "other.orders", "mariadb://maria/shop", "orders", "other"),
    ("jdbc:mysql://maria/shop", "`orders`", "mysql://maria/shop", "orders", None),
    ("jdbc:sqlite:/srv/shop.db", "orders", "sqlite:////srv/shop.db", "orders", None),
    ("jdbc:sqlite:/srv/shop.db", "main.orders", "sqlite:////srv/shop.db", "orders", None),
    ("jdbc:sqlite::memory:", "orders", "sqlite://", "orders", None),
]


@pytest.mark.parametrize(("jdbc", "dbtable", "sa_url", "table", "schema"), JDBC)
def test_jdbc_ids_equal_sqlalchemy_ids(
    jdbc: str, dbtable: str, sa_url: str, table: str, schema: str | None
) -> None:
    expected = dataset_id_for_sqlalchemy(sa_url, table, schema)
    assert dataset_id_for_jdbc(jdbc, dbtable) == expected
    assert "secret" not in expected


def test_jdbc_exact_ids() -> None:
    assert (
        dataset_id_for_jdbc("jdbc:postgresql://h:5432/shop", "public.orders")
        == "postgres://h:5432/shop.public.orders"
    )
    assert dataset_id_for_jdbc("jdbc:mariadb://h/shop", "orders") == "mysql://h:3306/shop.orders"
    assert (
        dataset_id_for_jdbc("jdbc:postgresql://h/shop", "dw.sales.orders")
        == "postgres://h:5432/dw.sales.orders"
    )


def test_jdbc_rejects_other_urls() -> None:
    with pytest.raises(ValueError, match="not a JDBC URL"):
        dataset_id_for_jdbc("postgresql://u:secret@h/db", "t")


@pytest.mark.parametrize(
    ("namespace", "name", "expected"),
    [
        ("file", "/data/orders.csv", "file:///data/orders.csv"),
        ("file://", "/data/orders.csv", "file:///data/orders.csv"),
        ("sqlite", "/srv/shop.db.orders", "sqlite:///srv/shop.db.orders"),
        ("sqlite", "memory.orders", "sqlite://memory.orders"),
        ("s3://bucket", "raw/o.csv", "s3://bucket/raw/o.csv"),
        ("s3://bucket/", "/raw/o.csv", "s3://bucket/raw/o.csv"),
        ("postgres://h:5432", "shop.public.orders", "postgres://h:5432/shop.public.orders"),
        ("s3://bucket", "", "s3://bucket"),
    ],
)
def test_dataset_id_joins_without_doubled_slashes(namespace: str, name: str, expected: str) -> None:
    assert dataset_id(namespace, name) == expected


def test_dataset_id_rejects_empty_namespace() -> None:
    with pytest.raises(ValueError):
        dataset_id("", "x")


ROUND_TRIP = [
    ("file", "/data/orders.csv"),
    ("file", "/data/my orders/ü.csv"),
    ("file", "/"),
    ("sqlite", "/srv/shop.db.orders"),
    ("sqlite", "memory.orders"),
    ("s3://bucket", "raw/2024/o.csv"),
    ("s3://bucket", ""),
    ("gs://bucket", "a b/c"),
    ("abfss://raw@acct.dfs.core.windows.net", "orders"),
    ("hdfs://nn:8020", "warehouse/orders"),
    ("postgres://db:5432", "shop.public.orders"),
    ("postgres://[::1]:5432", "shop.public.a/b"),
    ("mysql://127.0.0.1:3306", "test.orders"),
]


@pytest.mark.parametrize(("namespace", "name"), ROUND_TRIP)
def test_split_is_the_inverse_of_dataset_id(namespace: str, name: str) -> None:
    assert split_dataset_id(dataset_id(namespace, name)) == (namespace, name)


@pytest.mark.parametrize(("path", "expected"), PATHS)
def test_every_path_id_round_trips(path: str, expected: str) -> None:
    namespace, name = split_dataset_id(expected)
    assert dataset_id(namespace, name) == expected


@pytest.mark.parametrize("bad", ["orders", "/data/x", "://x"])
def test_split_rejects_non_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="not a dataset id"):
        split_dataset_id(bad)
