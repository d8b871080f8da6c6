"""Example pipeline: pandas and SQLAlchemy on SQLite, instrumented by dataops-otel.

Two jobs, as a small shop's nightly batch would have them:

* ``orders-extract`` lands raw CSV files (orders, customers);
* ``orders-daily`` joins and aggregates them into a parquet mart, loads the
  enriched orders into a SQLite warehouse with ``to_sql``, builds a summary
  table with ``CREATE TABLE ... AS SELECT`` and writes a CSV report from it.

Lineage therefore runs CSV -> pandas -> parquet and CSV -> pandas -> table ->
SQL -> table -> pandas -> CSV. Run it against a collector::

    dataops collector &                       # or: dataops demo, which runs this twice
    python examples/orders_pipeline.py ./work

No data values leave the process: only ids, counts, schemas and timings.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

import dataops_otel


def extract(workdir: Path, run_number: int) -> None:
    """Land raw files; later runs bring a few more orders, like a growing shop."""
    rng = np.random.default_rng(run_number)
    raw = workdir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    with dataops_otel.job("orders-extract"):
        n = 1_000 + 25 * run_number
        orders = pd.DataFrame(
            {
                "order_id": np.arange(n),
                "customer_id": rng.integers(0, 200, n),
                "amount": rng.gamma(2.0, 30.0, n).round(2),
                "day": pd.Timestamp("2026-11-01") + pd.to_timedelta(rng.integers(0, 7, n), "D"),
            }
        )
        customers = pd.DataFrame(
            {"customer_id": np.arange(200), "region": rng.choice(["eu", "us", "apac"], 200)}
        )
        orders.to_csv(raw / "orders.csv", index=False)
        customers.to_csv(raw / "customers.csv", index=False)


def transform(workdir: Path) -> Path:
    """Join, aggregate, load and report; returns the final report's path."""
    marts = workdir / "marts"
    reports = workdir / "reports"
    marts.mkdir(exist_ok=True)
    reports.mkdir(exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{workdir / 'warehouse.db'}")
    report = reports / "region_report.csv"
    with dataops_otel.job("orders-daily"):
        orders = pd.read_csv(workdir / "raw" / "orders.csv", parse_dates=["day"])
        customers = pd.read_csv(workdir / "raw" / "customers.csv")
        enriched = orders.merge(customers, on="customer_id", how="left")
        daily = (
            enriched.groupby(["day", "region"])
            .agg(revenue=("amount", "sum"), orders=("order_id", "count"))
            .reset_index()
        )
        daily.to_parquet(marts / "daily_revenue.parquet")
        enriched.to_sql("orders_enriched", engine, if_exists="replace", index=False)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS revenue_by_region"))
            conn.execute(
                sa.text(
                    "CREATE TABLE revenue_by_region AS "
                    "SELECT region, SUM(amount) AS revenue, COUNT(*) AS orders "
                    "FROM orders_enriched GROUP BY region"
                )
            )
        summary = pd.read_sql("SELECT * FROM revenue_by_region ORDER BY revenue DESC", engine)
        summary.to_csv(report, index=False)
    engine.dispose()
    return report


def run(workdir: Path, run_number: int = 1) -> Path:
    extract(workdir, run_number)
    return transform(workdir)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "./dataops-example").resolve()
    dataops_otel.init(service_name="orders-etl")
    print("report:", run(target))
    dataops_otel.shutdown()
