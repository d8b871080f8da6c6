-- Query-time answers on top of the derived tables (documented in docs/data-model.md).
-- Views keep no data: they are the SQL behind the CLI, the dashboards and users' queries.

CREATE TABLE IF NOT EXISTS dataops_slos (
    Pattern String,
    Regex String,
    FreshnessObjectiveSeconds Nullable(UInt64),
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
    s.DatasetId AS DatasetId,
    s.Namespace AS Namespace,
    s.Name AS Name,
    s.FirstSeen AS FirstSeen,
    s.LastSeen AS LastSeen,
    s.LastWrite AS LastWrite,
    s.LastRows AS LastRows,
    s.LastSchemaHash AS LastSchemaHash,
    s.LastSchema AS LastSchema,
    s.Writes AS Writes,
    s.Reads AS Reads,
    s.FailedWrites AS FailedWrites,
    j.WritingJobs AS WritingJobs,
    j.ReadingJobs AS ReadingJobs
FROM
(
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
        sum(st.FailedWrites) AS FailedWrites
    FROM dataops_dataset_state AS st
    GROUP BY st.DatasetId
) AS s
LEFT JOIN
(
    SELECT
        DatasetId,
        arraySort(groupUniqArrayIf(JobName, Role = 'output' AND IsCounted AND JobName != '')) AS WritingJobs,
        arraySort(groupUniqArrayIf(JobName, Role = 'input' AND Operation != 'write' AND IsCounted AND JobName != '')) AS ReadingJobs
    FROM dataops_dataset_events
    GROUP BY DatasetId
) AS j ON s.DatasetId = j.DatasetId;

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

-- Cost per dataset event. A span's CPU is split evenly across its outputs; a
-- span with no output (a read) puts it on its inputs. Bytes written are
-- charged to outputs, bytes read to the inputs of reads. Rates apply by time
-- (ASOF JOIN on EffectiveFrom), so a rate change never rewrites history.
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
FROM
(
    SELECT
        Timestamp,
        DatasetId,
        JobName,
        RunId,
        Role,
        1 AS k,
        count() OVER (PARTITION BY TraceId, SpanId, Role) AS role_count,
        countIf(Role = 'output') OVER (PARTITION BY TraceId, SpanId) AS outputs,
        if(Role = 'output' OR outputs = 0, CpuSeconds / role_count, 0.) AS CpuShare,
        if(Role = 'input' AND outputs = 0, toFloat64(ifNull(Bytes, 0)), 0.) AS BytesScanned,
        if(Role = 'output', toFloat64(ifNull(Bytes, 0)), 0.) AS BytesWritten
    FROM dataops_dataset_events
    WHERE IsCounted
) AS e
ASOF LEFT JOIN (SELECT 1 AS k, * FROM dataops_cost_rates FINAL) AS r
    ON e.k = r.k AND e.Timestamp >= r.EffectiveFrom;

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
