"""`opentelemetry-instrument python etl.py` picks our pandas instrumentor up by entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import pandas as pd
pd.DataFrame({"a": [1, 2, 3]}).to_csv("out.csv", index=False)
print("rows", len(pd.read_csv("out.csv")))
"""


def test_pipeline_under_opentelemetry_instrument_emits_pandas_spans(tmp_path: Path) -> None:
    launcher = shutil.which("opentelemetry-instrument") or str(
        Path(sys.executable).with_name("opentelemetry-instrument")
    )
    if not Path(launcher).exists():
        pytest.fail("opentelemetry-instrument is not installed (opentelemetry-distro in dev extra)")
    (tmp_path / "etl.py").write_text(SCRIPT)
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "etl-under-test",
    }
    done = subprocess.run(
        [launcher, sys.executable, "etl.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "rows 3" in done.stdout
    assert '"name": "pandas.to_csv"' in done.stdout
    assert '"name": "pandas.read_csv"' in done.stdout
    assert '"dataops.dataset.rows": 3' in done.stdout
