"""DataOps semantic conventions: the contract between the SDK and the collector.

Every attribute name that the SDK writes and the collector's materialized views
read is a constant here; no other module spells an attribute name as a string
literal. `docs/semantic-conventions.md` documents each one (type, meaning,
example). Bump `SEMCONV_VERSION` when a name or meaning changes; the SDK puts it
on every resource as `dataops.semconv.version` so stored data says which
contract it was written under.

Alongside our own names this module re-exports the stable OpenTelemetry
database and error names that our SQL spans carry, so instrumentors import
every name from one place.
"""

from __future__ import annotations

from typing import Final

SEMCONV_VERSION: Final = "0.1.0"

# --- resource -----------------------------------------------------------------
DATAOPS_SEMCONV_VERSION: Final = "dataops.semconv.version"
"""Resource attribute: the version of these conventions the SDK wrote."""

# --- dataset operation spans ----------------------------------------------------
DATAOPS_OPERATION: Final = "dataops.operation"
"""string: ``read``, ``write``, ``transform`` (reads and writes in one call) or ``query``."""

DATAOPS_INPUTS: Final = "dataops.inputs"
"""string[]: dataset ids read; for a write, the upstream datasets it was derived from."""

DATAOPS_OUTPUTS: Final = "dataops.outputs"
"""string[]: dataset ids written."""

DATAOPS_DATASET_ROWS: Final = "dataops.dataset.rows"
"""int: rows written (operations with an output) or read (reads of one input)."""

DATAOPS_DATASET_BYTES: Final = "dataops.dataset.bytes"
"""int: bytes written or read, where known cheaply (file size, write metrics)."""

DATAOPS_DATASET_COLUMNS: Final = "dataops.dataset.columns"
"""int: number of columns of the data read or written."""

DATAOPS_DATASET_SCHEMA: Final = "dataops.dataset.schema"
"""string: compact JSON ``[["col","type"],...]``; names and types, never values."""

DATAOPS_DATASET_SCHEMA_HASH: Final = "dataops.dataset.schema_hash"
"""string: stable, order-sensitive hash of the schema (see ``dataops_otel.schema``)."""

DATAOPS_DATASET_FORMAT: Final = "dataops.dataset.format"
"""string: ``csv``, ``parquet``, ``json``, ``excel``, ``feather``, ``orc``, ``pickle``,
``fwf``, ``table``, ``sql``, ``delta``, ``jdbc``, ..."""

DATAOPS_DATASET_FILES: Final = "dataops.dataset.files"
"""int: number of files written (Spark write metrics)."""

DATAOPS_DATASET_ALIASES: Final = "dataops.dataset.aliases"
"""string[]: other names of the datasets of this span, e.g. a Spark catalog name
``spark_catalog.default.orders`` for a table stored at a warehouse path."""

DATAOPS_WRITE_MODE: Final = "dataops.write.mode"
"""string: ``append``, ``overwrite``, ``upsert``, ``error``, ``ignore`` when known."""

DATAOPS_CPU_SECONDS: Final = "dataops.cpu_seconds"
"""double: CPU time spent by the operation (process CPU delta; Spark: executor CPU)."""

DATAOPS_NESTED: Final = "dataops.nested"
"""bool: true on a span whose datasets are already accounted for by an enclosing
dataops operation span (e.g. the INSERT statements that ``DataFrame.to_sql``
issues). Derived tables skip the dataset roles of nested spans so that one write
is never counted twice."""

DATAOPS_TRANSACTION_OUTCOME: Final = "dataops.transaction.outcome"
"""string: how the transaction around a SQL write ended: ``committed``,
``rolled_back``, ``autocommit`` or ``unknown``. Derived tables ignore writes
whose outcome is ``rolled_back``."""

# --- runs (set by dataops_otel.job) ----------------------------------------------
DATAOPS_JOB_NAME: Final = "dataops.job.name"
"""string: the job (pipeline) name; on the run root span and on every dataops
span opened inside the run, so each dataset event knows its job."""

DATAOPS_RUN_ID: Final = "dataops.run.id"
"""string: a fresh id per run; on the run root span and every span inside it."""

DATAOPS_RUN_ROOT: Final = "dataops.run.root"
"""bool: true on the run root span only (the span that ``job()`` opens); its
status is the run's outcome and its duration the run's duration."""

# --- values of dataops.operation ---------------------------------------------------
OPERATION_READ: Final = "read"
OPERATION_WRITE: Final = "write"
OPERATION_TRANSFORM: Final = "transform"
OPERATION_QUERY: Final = "query"

# --- values of dataops.transaction.outcome -------------------------------------------
OUTCOME_COMMITTED: Final = "committed"
OUTCOME_ROLLED_BACK: Final = "rolled_back"
OUTCOME_AUTOCOMMIT: Final = "autocommit"
OUTCOME_UNKNOWN: Final = "unknown"

# --- stable OpenTelemetry names that our spans also carry -----------------------------
DB_SYSTEM_NAME: Final = "db.system.name"
DB_NAMESPACE: Final = "db.namespace"
DB_COLLECTION_NAME: Final = "db.collection.name"
DB_OPERATION_NAME: Final = "db.operation.name"
DB_QUERY_SUMMARY: Final = "db.query.summary"
DB_QUERY_TEXT: Final = "db.query.text"
DB_OPERATION_BATCH_SIZE: Final = "db.operation.batch.size"
DB_RESPONSE_RETURNED_ROWS: Final = "db.response.returned_rows"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
SERVICE_NAME: Final = "service.name"
SERVICE_VERSION: Final = "service.version"
