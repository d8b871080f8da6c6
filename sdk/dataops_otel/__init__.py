"""dataops-otel: OpenTelemetry for data pipelines (the pipeline SDK).

The public surface is small on purpose::

    import dataops_otel

    dataops_otel.init(service_name="orders-etl")      # tracing + instrumentors
    with dataops_otel.job("orders-daily"):             # one run of a job
        ...                                            # pandas/SQLAlchemy/Spark I/O
        dataops_otel.record("write", outputs=["s3://lake/orders/"], rows=1200)
    dataops_otel.shutdown()

Importing this package imports neither pandas, pyspark, sqlalchemy, grpc nor
any collector code; instrumentors and the OTLP exporter import their library
lazily.
"""

from __future__ import annotations

from dataops_otel.datasets import (
    dataset_id,
    dataset_id_for_jdbc,
    dataset_id_for_path,
    dataset_id_for_sqlalchemy,
    dataset_id_for_url,
    split_dataset_id,
)
from dataops_otel.manual import Recording, as_dataset_id, record, recording
from dataops_otel.run import RunContext, current_run, job
from dataops_otel.schema import Schema, schema_from_arrow, schema_from_pandas
from dataops_otel.semconv import SEMCONV_VERSION
from dataops_otel.setup import ALL, init, shutdown
from dataops_otel.version import __version__

__all__ = [
    "ALL",
    "SEMCONV_VERSION",
    "Recording",
    "RunContext",
    "Schema",
    "__version__",
    "as_dataset_id",
    "current_run",
    "dataset_id",
    "dataset_id_for_jdbc",
    "dataset_id_for_path",
    "dataset_id_for_sqlalchemy",
    "dataset_id_for_url",
    "init",
    "job",
    "record",
    "recording",
    "schema_from_arrow",
    "schema_from_pandas",
    "shutdown",
    "split_dataset_id",
]
