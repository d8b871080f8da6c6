-- The OTLP intake: ClickHouse parses ExportTraceServiceRequest bytes itself
-- (format Protobuf, schema dataops_collector/schema/otlp_intake.proto) into
-- this Null table, and the view below flattens resource -> scope -> span and
-- writes otel_traces rows exactly as the contrib exporter does. The collector
-- validates and counts spans in Python (for OTLP partial success) but never
-- builds rows span by span; the WHERE clause below applies the same rules
-- (dataops_collector/spans.py, invalid_reason) so rejected spans are not stored.

-- Attribute values longer than this many bytes are cut and marked
-- "...[truncated]"; the collector writes its max_attribute_bytes setting here
-- at start.
CREATE TABLE IF NOT EXISTS dataops_collector_settings (
    Name LowCardinality(String),
    Value String,
    UpdatedAt DateTime64(3) DEFAULT now64(3)
) ENGINE = ReplacingMergeTree(UpdatedAt)
ORDER BY Name;

-- An AnyValue as the exporter's text: strings as they are, booleans
-- true/false, numbers as ClickHouse prints them (3.0 -> 3, like the exporter's
-- ES6 rule), bytes base64, arrays and kvlists as JSON; values nested deeper
-- than one level become null. An empty array, an empty kvlist and an unset
-- value look alike on this path and are stored as [] (SDKs send the first).
-- Parameters are used through tupleElement(): SQL functions substitute bare
-- parameter names only. assumeNotNull: every branch is a value, the result
-- type must not be Nullable (a missing map key reads as '').
CREATE OR REPLACE FUNCTION dataops_otlp_leaf_json AS (leaf) -> assumeNotNull(multiIf(
    tupleElement(leaf, 'string_value') IS NOT NULL, toJSONString(assumeNotNull(tupleElement(leaf, 'string_value'))),
    tupleElement(leaf, 'bool_value') IS NOT NULL, if(assumeNotNull(tupleElement(leaf, 'bool_value')), 'true', 'false'),
    tupleElement(leaf, 'int_value') IS NOT NULL, toString(assumeNotNull(tupleElement(leaf, 'int_value'))),
    tupleElement(leaf, 'double_value') IS NOT NULL, toString(assumeNotNull(tupleElement(leaf, 'double_value'))),
    tupleElement(leaf, 'bytes_value') IS NOT NULL, concat('"', base64Encode(assumeNotNull(tupleElement(leaf, 'bytes_value'))), '"'),
    'null'));

CREATE OR REPLACE FUNCTION dataops_otlp_value_text AS (value) -> assumeNotNull(multiIf(
    tupleElement(value, 'string_value') IS NOT NULL, assumeNotNull(tupleElement(value, 'string_value')),
    tupleElement(value, 'bool_value') IS NOT NULL, if(assumeNotNull(tupleElement(value, 'bool_value')), 'true', 'false'),
    tupleElement(value, 'int_value') IS NOT NULL, toString(assumeNotNull(tupleElement(value, 'int_value'))),
    tupleElement(value, 'double_value') IS NOT NULL, toString(assumeNotNull(tupleElement(value, 'double_value'))),
    tupleElement(value, 'bytes_value') IS NOT NULL, base64Encode(assumeNotNull(tupleElement(value, 'bytes_value'))),
    notEmpty(tupleElement(tupleElement(value, 'kvlist_value'), 'values')), concat('{', arrayStringConcat(arrayMap(
        entry -> concat(toJSONString(entry.1), ':', dataops_otlp_leaf_json(entry.2)),
        tupleElement(tupleElement(value, 'kvlist_value'), 'values')), ','), '}'),
    concat('[', arrayStringConcat(arrayMap(
        element -> dataops_otlp_leaf_json(element),
        tupleElement(tupleElement(value, 'array_value'), 'values')), ','), ']')));

-- Cut at `limit` bytes on a UTF-8 boundary, marked as the Python path marks it.
CREATE OR REPLACE FUNCTION dataops_otlp_truncate AS (text, limit) -> if(
    length(text) <= limit, text,
    concat(replaceRegexpOne(toValidUTF8(substring(text, 1, greatest(limit, 14) - 14)), '\xEF\xBF\xBD$', ''),
           '...[truncated]'));

CREATE OR REPLACE FUNCTION dataops_otlp_attributes AS (kvs, limit) -> mapFromArrays(
    arrayMap(attribute -> attribute.1, kvs),
    arrayMap(attribute -> dataops_otlp_truncate(dataops_otlp_value_text(attribute.2), limit), kvs));

-- One row per ExportTraceServiceRequest; nothing is kept here (Null engine),
-- the view below receives every inserted block. The KeyValue type is spelled
-- out for each attribute list (resource, span, event, link): ClickHouse has no
-- type aliases.
CREATE TABLE IF NOT EXISTS dataops_otlp_intake (
    resource_spans Array(Tuple(
        resource Tuple(attributes Array(Tuple(key String, value Tuple(
            string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64),
            double_value Nullable(Float64),
            array_value Tuple(values Array(Tuple(
                string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64),
                double_value Nullable(Float64), array_value Nullable(String),
                kvlist_value Nullable(String), bytes_value Nullable(String)))),
            kvlist_value Tuple(values Array(Tuple(key String, value Tuple(
                string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64),
                double_value Nullable(Float64), array_value Nullable(String),
                kvlist_value Nullable(String), bytes_value Nullable(String))))),
            bytes_value Nullable(String))))),
        scope_spans Array(Tuple(
            scope Tuple(name String, version String),
            spans Array(Tuple(
                trace_id String, span_id String, trace_state String, parent_span_id String,
                name String, kind Int32,
                start_time_unix_nano UInt64, end_time_unix_nano UInt64,
                attributes Array(Tuple(key String, value Tuple(
                    string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64),
                    double_value Nullable(Float64),
                    array_value Tuple(values Array(Tuple(
                        string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64),
                        double_value Nullable(Float64), array_value Nullable(String),
                        kvlist_value Nullable(String), bytes_value Nullable(String)))),
                    kvlist_value Tuple(values Array(Tuple(key String, value Tuple(
                        string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64),
                        double_value Nullable(Float64), array_value Nullable(String),
                        kvlist_value Nullable(String), bytes_value Nullable(String))))),
                    bytes_value Nullable(String)))),
                events Array(Tuple(time_unix_nano UInt64, name String, attributes Array(Tuple(key String, value Tuple(
                    string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64),
                    double_value Nullable(Float64),
                    array_value Tuple(values Array(Tuple(
                        string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64),
                        double_value Nullable(Float64), array_value Nullable(String),
                        kvlist_value Nullable(String), bytes_value Nullable(String)))),
                    kvlist_value Tuple(values Array(Tuple(key String, value Tuple(
                        string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64),
                        double_value Nullable(Float64), array_value Nullable(String),
                        kvlist_value Nullable(String), bytes_value Nullable(String))))),
                    bytes_value Nullable(String)))))),
                links Array(Tuple(trace_id String, span_id String, trace_state String, attributes Array(Tuple(key String, value Tuple(
                    string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64),
                    double_value Nullable(Float64),
                    array_value Tuple(values Array(Tuple(
                        string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64),
                        double_value Nullable(Float64), array_value Nullable(String),
                        kvlist_value Nullable(String), bytes_value Nullable(String)))),
                    kvlist_value Tuple(values Array(Tuple(key String, value Tuple(
                        string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64),
                        double_value Nullable(Float64), array_value Nullable(String),
                        kvlist_value Nullable(String), bytes_value Nullable(String))))),
                    bytes_value Nullable(String)))))),
                status Tuple(message String, code Int32)))))))
) ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS dataops_otlp_intake_mv
TO otel_traces
AS WITH
    -- A scalar subquery is Nullable; ifNull keeps every value String.
    ifNull((SELECT toUInt64OrDefault(argMax(Value, UpdatedAt), toUInt64(65536))
            FROM dataops_collector_settings WHERE Name = 'max_attribute_bytes'), 65536) AS value_limit,
    dataops_otlp_attributes(rs.resource.attributes, value_limit) AS resource_attributes
SELECT
    fromUnixTimestamp64Nano(toInt64(span.start_time_unix_nano)) AS Timestamp,
    lower(hex(span.trace_id)) AS TraceId,
    lower(hex(span.span_id)) AS SpanId,
    lower(hex(span.parent_span_id)) AS ParentSpanId,
    span.trace_state AS TraceState,
    span.name AS SpanName,
    if(span.kind BETWEEN 0 AND 5,
       ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'][span.kind + 1],
       'Unspecified') AS SpanKind,
    resource_attributes['service.name'] AS ServiceName,
    resource_attributes AS ResourceAttributes,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    dataops_otlp_attributes(span.attributes, value_limit) AS SpanAttributes,
    span.end_time_unix_nano - span.start_time_unix_nano AS Duration,
    if(span.status.code BETWEEN 0 AND 2,
       ['Unset', 'Ok', 'Error'][span.status.code + 1], 'Unset') AS StatusCode,
    span.status.message AS StatusMessage,
    arrayMap(e -> fromUnixTimestamp64Nano(toInt64(e.time_unix_nano)), span.events) AS `Events.Timestamp`,
    arrayMap(e -> e.name, span.events) AS `Events.Name`,
    arrayMap(e -> dataops_otlp_attributes(e.attributes, value_limit), span.events) AS `Events.Attributes`,
    arrayMap(l -> lower(hex(l.trace_id)), span.links) AS `Links.TraceId`,
    arrayMap(l -> lower(hex(l.span_id)), span.links) AS `Links.SpanId`,
    arrayMap(l -> l.trace_state, span.links) AS `Links.TraceState`,
    arrayMap(l -> dataops_otlp_attributes(l.attributes, value_limit), span.links) AS `Links.Attributes`
FROM dataops_otlp_intake
ARRAY JOIN resource_spans AS rs
ARRAY JOIN rs.scope_spans AS ss
ARRAY JOIN ss.spans AS span
WHERE length(span.trace_id) = 16 AND span.trace_id != repeat('\0', 16)
    AND length(span.span_id) = 8 AND span.span_id != repeat('\0', 8)
    AND (span.parent_span_id = '' OR length(span.parent_span_id) = 8)
    AND span.end_time_unix_nano >= span.start_time_unix_nano
    AND span.start_time_unix_nano != 0;
