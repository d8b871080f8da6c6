"""`dataops demo`, the README's first command, runs end to end and shows real answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_prints_catalog_lineage_freshness_and_cost(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dataops_collector.cli", "demo", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    pipeline = tmp_path / "pipeline"
    for heading in ("Datasets", "Lineage of", "Freshness", "Cost by job", "Jobs"):
        assert heading in out
    # The lineage tree walks from the report back through SQL and pandas to the raw files.
    assert f"sqlite://{pipeline}/warehouse.db.revenue_by_region (via orders-daily)" in out
    assert f"sqlite://{pipeline}/warehouse.db.orders_enriched (via orders-daily)" in out
    assert f"file://{pipeline}/raw/orders.csv (via orders-daily)" in out
    assert "orders-extract" in out and "Traceback" not in done.stderr
    assert (tmp_path / "data").is_dir()  # --data-dir keeps the data
