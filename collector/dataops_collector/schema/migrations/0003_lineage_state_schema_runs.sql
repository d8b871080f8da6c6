-- Lineage edges: every input -> output pair of a counted, successful span.
CREATE TABLE IF NOT EXISTS dataops_lineage_edges (
    Source String,
    Target String,
    JobName LowCardinality(String),
    ServiceName LowCardinality(String),
    FirstSeen SimpleAggregateFunction(min, DateTime64(9)),
    LastSeen SimpleAggregateFunction(max, DateTime64(9)),
    Events SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (Source, Target, JobName, ServiceName)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS dataops_lineage_edges_mv
TO dataops_lineage_edges
AS WITH
    JSONExtract(SpanAttributes['dataops.inputs'], 'Array(String)') AS inputs,
    JSONExtract(SpanAttributes['dataops.outputs'], 'Array(String)') AS outputs
SELECT
    edge.1 AS Source,
    edge.2 AS Target,
    SpanAttributes['dataops.job.name'] AS JobName,
    ServiceName,
    Timestamp AS FirstSeen,
    Timestamp AS LastSeen,
    toUInt64(1) AS Events
FROM otel_traces
ARRAY JOIN arrayFilter(
    e -> e.1 != e.2,
    arrayFlatten(arrayMap(i -> arrayMap(o -> (i, o), outputs), inputs))
) AS edge
WHERE SpanAttributes['dataops.operation'] != ''
  AND StatusCode != 'Error'
  AND SpanAttributes['dataops.nested'] != 'true'
  AND SpanAttributes['dataops.transaction.outcome'] != 'rolled_back';

-- Latest state per dataset (merge with GROUP BY / argMaxMerge, or FINAL).
-- DROP and TRUNCATE are writes (they show in events and lineage) but never fresh ones.
CREATE TABLE IF NOT EXISTS dataops_dataset_state (
    DatasetId String,
    Namespace SimpleAggregateFunction(any, String),
    Name SimpleAggregateFunction(any, String),
    FirstSeen SimpleAggregateFunction(min, DateTime64(9)),
    LastSeen SimpleAggregateFunction(max, DateTime64(9)),
    LastWrite SimpleAggregateFunction(max, Nullable(DateTime64(9))),
    LastRows AggregateFunction(argMax, Int64, DateTime64(9)),
    RowsReported SimpleAggregateFunction(sum, UInt64),
    LastSchemaHash AggregateFunction(argMax, String, DateTime64(9)),
    LastSchema AggregateFunction(argMax, String, DateTime64(9)),
    Writes SimpleAggregateFunction(sum, UInt64),
    Reads SimpleAggregateFunction(sum, UInt64),
    FailedWrites SimpleAggregateFunction(sum, UInt64),
    WritingJobs SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    ReadingJobs SimpleAggregateFunction(groupUniqArrayArray, Array(String))
) ENGINE = AggregatingMergeTree
ORDER BY DatasetId
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS dataops_dataset_state_mv
TO dataops_dataset_state
AS SELECT
    DatasetId,
    any(Namespace) AS Namespace,
    any(Name) AS Name,
    min(Timestamp) AS FirstSeen,
    max(Timestamp) AS LastSeen,
    maxIf(toNullable(EndTime), Role = 'output' AND IsCounted AND IsSuccess AND WriteMode NOT IN ('drop', 'truncate')) AS LastWrite,
    argMaxStateIf(assumeNotNull(Rows), EndTime, Role = 'output' AND IsCounted AND IsSuccess AND WriteMode NOT IN ('drop', 'truncate') AND Rows IS NOT NULL) AS LastRows,
    argMaxStateIf(SchemaHash, EndTime, Role = 'output' AND IsCounted AND IsSuccess AND WriteMode NOT IN ('drop', 'truncate') AND SchemaHash != '') AS LastSchemaHash,
    argMaxStateIf(Schema, EndTime, Role = 'output' AND IsCounted AND IsSuccess AND WriteMode NOT IN ('drop', 'truncate') AND Schema != '') AS LastSchema,
    countIf(Role = 'output' AND IsCounted AND IsSuccess AND WriteMode NOT IN ('drop', 'truncate')) AS Writes,
    countIf(Role = 'output' AND IsCounted AND IsSuccess AND WriteMode NOT IN ('drop', 'truncate') AND Rows IS NOT NULL) AS RowsReported,
    -- A read is an operation that read the dataset; a write span's inputs are
    -- its lineage, not reads.
    countIf(Role = 'input' AND Operation != 'write' AND IsCounted AND IsSuccess) AS Reads,
    countIf(Role = 'output' AND IsCounted AND NOT IsSuccess) AS FailedWrites,
    groupUniqArrayIf(JobName, Role = 'output' AND IsCounted AND JobName != '') AS WritingJobs,
    groupUniqArrayIf(JobName, Role = 'input' AND Operation != 'write' AND IsCounted AND JobName != '') AS ReadingJobs
FROM dataops_dataset_events
GROUP BY DatasetId;

-- Schema versions per dataset, from counted successful writes.
CREATE TABLE IF NOT EXISTS dataops_schema_versions (
    DatasetId String,
    SchemaHash String,
    Schema SimpleAggregateFunction(any, String),
    FirstSeen SimpleAggregateFunction(min, DateTime64(9)),
    LastSeen SimpleAggregateFunction(max, DateTime64(9)),
    Writes SimpleAggregateFunction(sum, UInt64)
) ENGINE = AggregatingMergeTree
ORDER BY (DatasetId, SchemaHash)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS dataops_schema_versions_mv
TO dataops_schema_versions
AS SELECT
    DatasetId,
    SchemaHash,
    any(Schema) AS Schema,
    min(Timestamp) AS FirstSeen,
    max(Timestamp) AS LastSeen,
    count() AS Writes
FROM dataops_dataset_events
WHERE Role = 'output' AND IsCounted AND IsSuccess AND SchemaHash != ''
GROUP BY DatasetId, SchemaHash;

-- One row per run root span opened by dataops_otel.job().
CREATE TABLE IF NOT EXISTS dataops_runs (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    JobName LowCardinality(String),
    RunId String,
    ServiceName LowCardinality(String),
    ServiceVersion LowCardinality(String),
    TraceId String,
    DurationNs UInt64,
    StatusCode LowCardinality(String),
    StatusMessage String,
    ErrorType LowCardinality(String)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (JobName, Timestamp)
TTL toDateTime(Timestamp) + toIntervalDay({{retention_days}})
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS dataops_runs_mv
TO dataops_runs
AS SELECT
    Timestamp,
    SpanAttributes['dataops.job.name'] AS JobName,
    SpanAttributes['dataops.run.id'] AS RunId,
    ServiceName,
    ResourceAttributes['service.version'] AS ServiceVersion,
    TraceId,
    Duration AS DurationNs,
    StatusCode,
    StatusMessage,
    SpanAttributes['error.type'] AS ErrorType
FROM otel_traces
WHERE SpanAttributes['dataops.run.root'] = 'true';
