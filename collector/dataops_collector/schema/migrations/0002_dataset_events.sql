-- One row per (span, dataset, role), derived inside ClickHouse from every span
-- that carries dataops.operation, whichever collector inserted it.
CREATE TABLE IF NOT EXISTS dataops_dataset_events (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    EndTime DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String),
    ServiceVersion LowCardinality(String),
    JobName LowCardinality(String),
    RunId String CODEC(ZSTD(1)),
    DatasetId String CODEC(ZSTD(1)),
    Namespace LowCardinality(String),
    Name String CODEC(ZSTD(1)),
    Role LowCardinality(String),
    Operation LowCardinality(String),
    Format LowCardinality(String),
    WriteMode LowCardinality(String),
    Rows Nullable(Int64),
    Bytes Nullable(Int64),
    Columns Nullable(Int64),
    SchemaHash LowCardinality(String),
    Schema String CODEC(ZSTD(1)),
    CpuSeconds Float64,
    CpuShare Float64,
    BytesScanned Float64,
    BytesWritten Float64,
    DurationNs UInt64,
    StatusCode LowCardinality(String),
    StatusMessage String CODEC(ZSTD(1)),
    ErrorType LowCardinality(String),
    IsNested UInt8,
    TxOutcome LowCardinality(String),
    IsCounted UInt8,
    IsSuccess UInt8
) ENGINE = MergeTree
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (DatasetId, Role, Timestamp)
TTL toDateTime(Timestamp) + toIntervalDay({{retention_days}})
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS dataops_dataset_events_mv
TO dataops_dataset_events
AS WITH
    JSONExtract(SpanAttributes['dataops.inputs'], 'Array(String)') AS inputs,
    JSONExtract(SpanAttributes['dataops.outputs'], 'Array(String)') AS outputs,
    -- Namespace and name split as dataops_otel.datasets.split_dataset_id does.
    position(dataset_role.1, '://') AS sep,
    substring(dataset_role.1, 1, sep - 1) AS scheme,
    substring(dataset_role.1, sep + 3) AS rest,
    (scheme IN ('file', 'sqlite') OR startsWith(rest, '/')) AS bare,
    -- Dataset facts belong to the single output, or to the single input of a read.
    (dataset_role.2 = 'output' AND length(outputs) = 1)
        OR (dataset_role.2 = 'input' AND length(outputs) = 0 AND length(inputs) = 1) AS owns_facts
SELECT
    Timestamp,
    Timestamp + toIntervalNanosecond(Duration) AS EndTime,
    TraceId,
    SpanId,
    ParentSpanId,
    ServiceName,
    ResourceAttributes['service.version'] AS ServiceVersion,
    SpanAttributes['dataops.job.name'] AS JobName,
    SpanAttributes['dataops.run.id'] AS RunId,
    dataset_role.1 AS DatasetId,
    if(bare, scheme, concat(scheme, '://', splitByChar('/', rest)[1])) AS Namespace,
    if(bare, rest, if(position(rest, '/') > 0, substring(rest, position(rest, '/') + 1), '')) AS Name,
    dataset_role.2 AS Role,
    SpanAttributes['dataops.operation'] AS Operation,
    SpanAttributes['dataops.dataset.format'] AS Format,
    SpanAttributes['dataops.write.mode'] AS WriteMode,
    if(owns_facts, toInt64OrNull(SpanAttributes['dataops.dataset.rows']), NULL) AS Rows,
    if(owns_facts, toInt64OrNull(SpanAttributes['dataops.dataset.bytes']), NULL) AS Bytes,
    if(owns_facts, toInt64OrNull(SpanAttributes['dataops.dataset.columns']), NULL) AS Columns,
    if(owns_facts, SpanAttributes['dataops.dataset.schema_hash'], '') AS SchemaHash,
    if(owns_facts, SpanAttributes['dataops.dataset.schema'], '') AS Schema,
    toFloat64OrZero(SpanAttributes['dataops.cpu_seconds']) AS CpuSeconds,
    -- Cost attribution (docs/data-model.md): a span's CPU is split evenly across
    -- its outputs; a span with no output puts it on its inputs.
    multiIf(dataset_role.2 = 'output', CpuSeconds / length(outputs),
            length(outputs) = 0, CpuSeconds / length(inputs), 0.) AS CpuShare,
    if(dataset_role.2 = 'input' AND length(outputs) = 0, toFloat64(ifNull(Bytes, 0)), 0.) AS BytesScanned,
    if(dataset_role.2 = 'output', toFloat64(ifNull(Bytes, 0)), 0.) AS BytesWritten,
    Duration AS DurationNs,
    StatusCode,
    StatusMessage,
    SpanAttributes['error.type'] AS ErrorType,
    toUInt8(SpanAttributes['dataops.nested'] = 'true') AS IsNested,
    SpanAttributes['dataops.transaction.outcome'] AS TxOutcome,
    toUInt8(NOT IsNested AND TxOutcome != 'rolled_back') AS IsCounted,
    toUInt8(StatusCode != 'Error') AS IsSuccess
FROM otel_traces
ARRAY JOIN arrayConcat(
    arrayMap(x -> (x, 'input'), inputs),
    arrayMap(x -> (x, 'output'), outputs)
) AS dataset_role
WHERE SpanAttributes['dataops.operation'] != '';
