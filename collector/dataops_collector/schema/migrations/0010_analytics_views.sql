-- Query-time answers on top of the derived tables (documented in docs/data-model.md).
-- Views keep no data: they are the SQL behind the CLI, the dashboards and users' queries.

CREATE TABLE IF NOT EXISTS dataops_slos (
    Pattern String,
    Regex String,
    FreshnessObjectiveSeconds Nullable(UInt64),
    FreshnessTarget Float64 DEFAULT 0.99,
    CompletenessObjective Nullable(Float64),
    Critical UInt8,
    LoadedAt DateTime64(3)
) ENGINE = ReplacingMergeTree(LoadedAt)
ORDER BY Pattern;

CREATE TABLE IF NOT EXISTS dataops_cost_rates (
    EffectiveFrom DateTime64(9),
    CpuSecond Float64,
    GbScanned Float64,
    GbWritten Float64
) ENGINE = ReplacingMergeTree
ORDER BY EffectiveFrom;

CREATE VIEW IF NOT EXISTS dataops_catalog AS
SELECT
    st.DatasetId AS DatasetId,
    any(st.Namespace) AS Namespace,
    any(st.Name) AS Name,
    min(st.FirstSeen) AS FirstSeen,
    max(st.LastSeen) AS LastSeen,
    max(st.LastWrite) AS LastWrite,
    if(sum(st.RowsReported) > 0, toNullable(argMaxMerge(st.LastRows)), NULL) AS LastRows,
    argMaxMerge(st.LastSchemaHash) AS LastSchemaHash,
    argMaxMerge(st.LastSchema) AS LastSchema,
    sum(st.Writes) AS Writes,
    sum(st.Reads) AS Reads,
    sum(st.FailedWrites) AS FailedWrites,
    arraySort(groupUniqArrayArray(st.WritingJobs)) AS WritingJobs,
    arraySort(groupUniqArrayArray(st.ReadingJobs)) AS ReadingJobs
FROM dataops_dataset_state AS st
GROUP BY st.DatasetId;

CREATE VIEW IF NOT EXISTS dataops_lineage AS
SELECT
    Source,
    Target,
    arraySort(groupUniqArrayIf(JobName, JobName != '')) AS Jobs,
    min(FirstSeen) AS FirstSeen,
    max(LastSeen) AS LastSeen,
    sum(Events) AS Events
FROM dataops_lineage_edges
GROUP BY Source, Target;

-- The most specific SLO (longest pattern) that matches each dataset.
CREATE VIEW IF NOT EXISTS dataops_dataset_slo AS
SELECT
    c.DatasetId AS DatasetId,
    argMax(o.FreshnessObjectiveSeconds, length(o.Pattern)) AS FreshnessObjectiveSeconds,
    argMax(o.FreshnessTarget, length(o.Pattern)) AS FreshnessTarget,
    argMax(o.CompletenessObjective, length(o.Pattern)) AS CompletenessObjective,
    argMax(o.Critical, length(o.Pattern)) AS Critical
FROM (SELECT DISTINCT DatasetId FROM dataops_dataset_state) AS c
CROSS JOIN (SELECT * FROM dataops_slos FINAL) AS o
WHERE match(c.DatasetId, o.Regex)
GROUP BY c.DatasetId;

CREATE VIEW IF NOT EXISTS dataops_freshness AS
SELECT
    c.DatasetId AS DatasetId,
    c.LastWrite AS LastWrite,
    if(c.LastWrite IS NULL, NULL, toInt64(dateDiff('second', assumeNotNull(c.LastWrite), now64(9)))) AS FreshnessSeconds,
    o.FreshnessObjectiveSeconds AS ObjectiveSeconds,
    toUInt8(ifNull(o.Critical, 0)) AS Critical,
    multiIf(
        c.LastWrite IS NULL, 'never_written',
        ObjectiveSeconds IS NULL, 'no_objective',
        FreshnessSeconds > ObjectiveSeconds, 'breach',
        'ok'
    ) AS Status
FROM dataops_catalog AS c
LEFT JOIN dataops_dataset_slo AS o ON c.DatasetId = o.DatasetId
SETTINGS join_use_nulls = 1;

-- Rows per successful write against a robust baseline of the previous 20 writes:
-- median and MAD, judged only after 5 writes; anomaly when the modified
-- z-score 0.6745 * |rows - median| / MAD exceeds 3.5 (Iglewicz and Hoaglin).
CREATE VIEW IF NOT EXISTS dataops_volume AS
SELECT
    Timestamp,
    DatasetId,
    JobName,
    RunId,
    Rows,
    length(history) AS HistoryRuns,
    if(HistoryRuns > 0, arrayReduce('quantileExact(0.5)', history), NULL) AS BaselineMedian,
    if(HistoryRuns > 0,
       arrayReduce('quantileExact(0.5)', arrayMap(x -> abs(x - assumeNotNull(BaselineMedian)), history)),
       NULL) AS BaselineMad,
    if(HistoryRuns >= 5,
       0.6745 * abs(Rows - assumeNotNull(BaselineMedian))
           / greatest(assumeNotNull(BaselineMad), 0.01 * abs(assumeNotNull(BaselineMedian)), 1.0),
       NULL) AS Score,
    toUInt8(ifNull(Score > 3.5, 0)) AS IsAnomaly
FROM
(
    SELECT
        Timestamp,
        DatasetId,
        JobName,
        RunId,
        assumeNotNull(Rows) AS Rows,
        arrayMap(x -> toFloat64(x), groupArray(assumeNotNull(Rows)) OVER (
            PARTITION BY DatasetId ORDER BY Timestamp ROWS BETWEEN 20 PRECEDING AND 1 PRECEDING
        )) AS history
    FROM dataops_dataset_events
    WHERE Role = 'output' AND IsCounted AND IsSuccess AND Rows IS NOT NULL
);

CREATE VIEW IF NOT EXISTS dataops_schema_changes AS
SELECT
    FirstSeen AS Timestamp,
    DatasetId,
    PreviousSchemaHash,
    SchemaHash,
    arrayFilter(c -> NOT has(prev_names, c), names) AS Added,
    arrayFilter(c -> NOT has(names, c), prev_names) AS Removed,
    arrayFilter(
        c -> has(prev_names, c) AND types[indexOf(names, c)] != prev_types[indexOf(prev_names, c)],
        names
    ) AS Retyped
FROM
(
    SELECT
        DatasetId,
        SchemaHash,
        FirstSeen,
        JSONExtract(Schema, 'Array(Array(String))') AS cols,
        arrayMap(x -> x[1], cols) AS names,
        arrayMap(x -> x[2], cols) AS types,
        lagInFrame(SchemaHash) OVER w AS PreviousSchemaHash,
        lagInFrame(names) OVER w AS prev_names,
        lagInFrame(types) OVER w AS prev_types,
        row_number() OVER w AS version
    FROM
    (
        SELECT DatasetId, SchemaHash, any(Schema) AS Schema, min(FirstSeen) AS FirstSeen
        FROM dataops_schema_versions
        GROUP BY DatasetId, SchemaHash
    )
    WINDOW w AS (PARTITION BY DatasetId ORDER BY FirstSeen ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
WHERE version > 1;

CREATE VIEW IF NOT EXISTS dataops_schema_conformance AS
SELECT
    v.DatasetId AS DatasetId,
    argMax(v.SchemaHash, v.LastSeen) AS CurrentSchemaHash,
    sum(v.VersionWrites) AS Writes,
    arraySum(arrayMap(
        (h, w) -> if(h = CurrentSchemaHash, w, 0), groupArray(v.SchemaHash), groupArray(v.VersionWrites)
    )) AS ConformingWrites,
    ConformingWrites / Writes AS ConformanceRate
FROM
(
    SELECT DatasetId, SchemaHash, max(LastSeen) AS LastSeen, sum(Writes) AS VersionWrites
    FROM dataops_schema_versions
    GROUP BY DatasetId, SchemaHash
) AS v
GROUP BY v.DatasetId;

CREATE VIEW IF NOT EXISTS dataops_job_runs AS
SELECT
    Timestamp,
    JobName,
    RunId,
    ServiceName,
    ServiceVersion,
    DurationNs / 1e9 AS DurationSeconds,
    if(StatusCode = 'Error', 'failed', 'ok') AS Status,
    ErrorType,
    StatusMessage AS ErrorMessage,
    TraceId
FROM dataops_runs;

CREATE VIEW IF NOT EXISTS dataops_job_health AS
SELECT
    JobName,
    count() AS Runs,
    countIf(Status = 'ok') AS SucceededRuns,
    countIf(Status = 'failed') AS FailedRuns,
    SucceededRuns / Runs AS SuccessRate,
    quantile(0.5)(DurationSeconds) AS P50DurationSeconds,
    quantile(0.95)(DurationSeconds) AS P95DurationSeconds,
    max(Timestamp) AS LastRun,
    argMax(Status, Timestamp) AS LastStatus
FROM dataops_job_runs
GROUP BY JobName;

-- Cost per dataset event: CpuShare/BytesScanned/BytesWritten are attributed
-- when the event is derived (0002); rates apply by time (ASOF JOIN on
-- EffectiveFrom), so a rate change never rewrites history.
CREATE VIEW IF NOT EXISTS dataops_cost_events AS
SELECT
    e.Timestamp AS Timestamp,
    e.DatasetId AS DatasetId,
    e.JobName AS JobName,
    e.RunId AS RunId,
    e.Role AS Role,
    e.CpuShare AS CpuSeconds,
    e.BytesScanned AS BytesScanned,
    e.BytesWritten AS BytesWritten,
    e.CpuShare * r.CpuSecond + e.BytesScanned / 1e9 * r.GbScanned + e.BytesWritten / 1e9 * r.GbWritten AS Cost
FROM (SELECT *, 1 AS k FROM dataops_dataset_events WHERE IsCounted) AS e
ASOF LEFT JOIN (SELECT 1 AS k, * FROM dataops_cost_rates FINAL) AS r
    ON e.k = r.k AND e.Timestamp >= r.EffectiveFrom;

-- The same inputs summed per day, dataset and job, so cost over weeks reads
-- days, not events. Rates apply to a day by its start (UTC midnight).
CREATE TABLE IF NOT EXISTS dataops_cost_daily (
    Day DateTime64(9),
    DatasetId String,
    JobName LowCardinality(String),
    CpuSeconds SimpleAggregateFunction(sum, Float64),
    BytesScanned SimpleAggregateFunction(sum, Float64),
    BytesWritten SimpleAggregateFunction(sum, Float64)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(Day)
ORDER BY (Day, DatasetId, JobName)
TTL toDateTime(Day) + toIntervalDay({{retention_days}})
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS dataops_cost_daily_mv
TO dataops_cost_daily
AS SELECT
    toDateTime64(toStartOfDay(Timestamp), 9) AS Day,
    DatasetId,
    JobName,
    sum(CpuShare) AS CpuSeconds,
    sum(BytesScanned) AS BytesScanned,
    sum(BytesWritten) AS BytesWritten
FROM dataops_dataset_events
WHERE IsCounted
GROUP BY Day, DatasetId, JobName;

CREATE VIEW IF NOT EXISTS dataops_cost_by_day AS
SELECT
    h.Day AS Day,
    h.DatasetId AS DatasetId,
    h.JobName AS JobName,
    h.CpuSeconds AS CpuSeconds,
    h.BytesScanned AS BytesScanned,
    h.BytesWritten AS BytesWritten,
    h.CpuSeconds * r.CpuSecond + h.BytesScanned / 1e9 * r.GbScanned + h.BytesWritten / 1e9 * r.GbWritten AS Cost
FROM
(
    SELECT Day, DatasetId, JobName, 1 AS k, sum(CpuSeconds) AS CpuSeconds,
           sum(BytesScanned) AS BytesScanned, sum(BytesWritten) AS BytesWritten
    FROM dataops_cost_daily
    GROUP BY Day, DatasetId, JobName
) AS h
ASOF LEFT JOIN (SELECT 1 AS k, * FROM dataops_cost_rates FINAL) AS r
    ON h.k = r.k AND h.Day >= r.EffectiveFrom;

CREATE VIEW IF NOT EXISTS dataops_lineage_coverage AS
SELECT
    countIf(Writes > 0) AS DatasetsWritten,
    countIf(Writes > 0 AND has_upstream) AS DatasetsWithUpstream,
    if(DatasetsWritten = 0, 0, DatasetsWithUpstream / DatasetsWritten) AS Coverage
FROM
(
    SELECT st.DatasetId AS DatasetId, sum(st.Writes) AS Writes,
        st.DatasetId IN (SELECT Target FROM dataops_lineage_edges) AS has_upstream
    FROM dataops_dataset_state AS st
    GROUP BY st.DatasetId
);

CREATE VIEW IF NOT EXISTS dataops_anomaly_daily AS
SELECT
    Day,
    DatasetId,
    sum(volume) AS VolumeAnomalies,
    sum(schema) AS SchemaChanges,
    sum(freshness) AS FreshnessBreaches
FROM
(
    SELECT toDate(Timestamp) AS Day, DatasetId, toUInt64(1) AS volume, toUInt64(0) AS schema, toUInt64(0) AS freshness
    FROM dataops_volume WHERE IsAnomaly
    UNION ALL
    SELECT toDate(Timestamp), DatasetId, 0, 1, 0 FROM dataops_schema_changes
    UNION ALL
    SELECT today(), DatasetId, 0, 0, 1 FROM dataops_freshness WHERE Status = 'breach'
)
GROUP BY Day, DatasetId;
