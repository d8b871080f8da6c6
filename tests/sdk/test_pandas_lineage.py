"""A write's inputs are the datasets its frame was derived from, through pandas ops."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dataops_otel import lineage, semconv
from dataops_otel.datasets import dataset_id_for_path

from .pandas_support import instrumented, only_span

__all__ = ["instrumented"]


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    orders = tmp_path / "orders.csv"
    customers = tmp_path / "customers.parquet"
    unused = tmp_path / "unused.csv"
    with suppress_instrumentation():
        _write_sources(orders, customers, unused)
    return {"orders": orders, "customers": customers, "unused": unused}


def _write_sources(orders: Path, customers: Path, unused: Path) -> None:
    pd.DataFrame(
        {"order_id": [1, 2, 3], "customer_id": [1, 1, 2], "amount": [5.0, None, 2.5]}
    ).to_csv(orders, index=False)
    pd.DataFrame({"customer_id": [1, 2], "region": ["eu", "us"]}).to_parquet(customers)
    pd.DataFrame({"x": [1]}).to_csv(unused, index=False)


ORD = "orders"
CUS = "customers"

# name -> (operation on (orders, customers), expected inputs)
OPERATIONS: dict[str, tuple[Callable[[pd.DataFrame, pd.DataFrame], object], list[str]]] = {
    "filter": (lambda o, c: o[o["amount"] > 1], [ORD]),
    "column selection": (lambda o, c: o[["order_id", "amount"]], [ORD]),
    "loc": (lambda o, c: o.loc[o["customer_id"] == 1, ["amount"]], [ORD]),
    "query": (lambda o, c: o.query("amount > 1"), [ORD]),
    "assign from other frame": (lambda o, c: o.assign(region=c["region"]), [ORD, CUS]),
    "merge": (lambda o, c: o.merge(c, on="customer_id"), [ORD, CUS]),
    "pd.merge": (lambda o, c: pd.merge(o, c, on="customer_id"), [ORD, CUS]),
    "join": (lambda o, c: o.join(c.set_index("customer_id"), on="customer_id"), [ORD, CUS]),
    "concat": (lambda o, c: pd.concat([o, c]), [ORD, CUS]),
    "groupby agg": (lambda o, c: o.groupby("customer_id").agg(total=("amount", "sum")), [ORD]),
    "groupby sum": (lambda o, c: o.groupby("customer_id").sum(), [ORD]),
    "groupby column": (lambda o, c: o.groupby("customer_id")["amount"].mean(), [ORD]),
    "pivot_table": (
        lambda o, c: o.pivot_table(index="customer_id", values="amount", aggfunc="sum"),
        [ORD],
    ),
    "melt": (lambda o, c: o.melt(id_vars="order_id"), [ORD]),
    "pd.melt": (lambda o, c: pd.melt(o, id_vars="order_id"), [ORD]),
    "apply": (lambda o, c: o.apply(lambda row: row, axis=1), [ORD]),
    "copy": (lambda o, c: o.copy(), [ORD]),
    "arithmetic between frames": (
        lambda o, c: (o["amount"] * c["customer_id"]).to_frame(),
        [ORD, CUS],
    ),
    "arithmetic with scalar": (lambda o, c: o[["amount"]] * 2, [ORD]),
    "reset_index": (lambda o, c: o.reset_index(), [ORD]),
    "rename": (lambda o, c: o.rename(columns={"amount": "value"}), [ORD]),
    "drop": (lambda o, c: o.drop(columns=["order_id"]), [ORD]),
    "fillna": (lambda o, c: o.fillna(0), [ORD]),
    "sort_values": (lambda o, c: o.sort_values("amount"), [ORD]),
    "chain": (
        lambda o, c: (
            o.merge(c, on="customer_id")
            .fillna(0)
            .groupby("region")
            .agg(total=("amount", "sum"))
            .reset_index()
            .rename(columns={"total": "revenue"})
            .sort_values("revenue")
        ),
        [ORD, CUS],
    ),
}


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_write_records_the_inputs_of_its_frame(
    instrumented: InMemorySpanExporter,
    sources: dict[str, Path],
    tmp_path: Path,
    name: str,
) -> None:
    operation, expected = OPERATIONS[name]
    orders = pd.read_csv(sources["orders"])
    customers = pd.read_parquet(sources["customers"])
    pd.read_csv(sources["unused"])  # read, but never used for the written frame
    result = operation(orders, customers)
    out = result.to_frame() if isinstance(result, pd.Series) else result
    assert isinstance(out, pd.DataFrame)
    out.to_parquet(tmp_path / "out.parquet")

    write = only_span(instrumented, "pandas.to_parquet")
    inputs = list((write.attributes or {})[semconv.DATAOPS_INPUTS])  # type: ignore[arg-type]
    assert inputs == [dataset_id_for_path(str(sources[key])) for key in expected]


def test_column_assignment_adds_the_source_of_the_value(
    instrumented: InMemorySpanExporter, sources: dict[str, Path], tmp_path: Path
) -> None:
    customers = pd.read_parquet(sources["customers"])
    target = pd.DataFrame({"n": [1, 2]})
    target["region"] = customers["region"]
    target.to_csv(tmp_path / "out.csv", index=False)
    write = only_span(instrumented, "pandas.to_csv")
    assert list((write.attributes or {})[semconv.DATAOPS_INPUTS]) == [  # type: ignore[arg-type]
        dataset_id_for_path(str(sources["customers"]))
    ]


def test_frame_built_from_scratch_or_from_raw_values_has_no_inputs(
    instrumented: InMemorySpanExporter, sources: dict[str, Path], tmp_path: Path
) -> None:
    orders = pd.read_csv(sources["orders"])
    pd.DataFrame({"a": [1, 2]}).to_csv(tmp_path / "scratch.csv")
    # Documented blind spot: values copied out through .values lose lineage.
    pd.DataFrame(orders.values, columns=orders.columns).to_csv(tmp_path / "values.csv")
    writes = [s for s in instrumented.get_finished_spans() if s.name == "pandas.to_csv"]
    assert len(writes) == 2
    assert all(semconv.DATAOPS_INPUTS not in (s.attributes or {}) for s in writes)


def test_lineage_marks_do_not_keep_frames_alive(
    instrumented: InMemorySpanExporter, sources: dict[str, Path]
) -> None:
    before = lineage.tracked_count()
    orders = pd.read_csv(sources["orders"])
    derived = orders.merge(orders, on="order_id").fillna(0)
    ref = weakref.ref(derived)
    assert lineage.tracked_count() > before
    del orders, derived
    gc.collect()
    assert ref() is None
    assert lineage.tracked_count() == before
