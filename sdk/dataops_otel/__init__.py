"""dataops-otel: OpenTelemetry for data pipelines (the pipeline SDK).

Importing this package imports neither pandas, pyspark, sqlalchemy nor any
collector code; instrumentors import their library lazily.
"""

from __future__ import annotations

from dataops_otel.datasets import (
    dataset_id,
    dataset_id_for_path,
    dataset_id_for_sqlalchemy,
    split_dataset_id,
)
from dataops_otel.run import RunContext, current_run, job
from dataops_otel.version import __version__

__all__ = [
    "RunContext",
    "__version__",
    "current_run",
    "dataset_id",
    "dataset_id_for_path",
    "dataset_id_for_sqlalchemy",
    "job",
    "split_dataset_id",
]
