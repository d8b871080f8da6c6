"""The Grafana ClickHouse plugin's macro expansion, for executing panel SQL in tests.

Rules follow grafana/clickhouse-datasource ``pkg/macros/macros.go`` (read via
the tool library; not copied): ``$__timeFilter(c)`` ->
``c >= toDateTime(from_s) AND c <= toDateTime(to_s)``; ``_ms`` variants use
``fromUnixTimestamp64Milli(ms)``; ``$__dateFilter(c)`` compares with
``toDate('YYYY-MM-DD')``; ``$__dateTimeFilter(d, t)`` / ``$__dt`` combine both;
``$__fromTime``/``$__toTime`` are ``toDateTime(s)``;
``$__timeInterval(c)`` is ``toStartOfInterval(toDateTime(c), INTERVAL n second)``
with n = max(interval, 1); ``$__timeInterval_ms(c)`` uses ``toDateTime64(c, 3)``
and milliseconds; ``$__interval_s`` is n. Grafana itself substitutes template
variables (``${name}``, ``$name``) before the plugin sees the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    interval_s: float = 60.0


def _date_time(moment: datetime) -> str:
    return f"toDateTime({int(moment.timestamp())})"


def _date_time64(moment: datetime) -> str:
    return f"fromUnixTimestamp64Milli({int(moment.timestamp() * 1000)})"


def _date(moment: datetime) -> str:
    return f"toDate('{moment.astimezone(timezone.utc).strftime('%Y-%m-%d')}')"


def expand(sql: str, time_range: TimeRange, variables: dict[str, str] | None = None) -> str:
    """Substitute template variables, then expand the plugin's macros."""
    for name, value in (variables or {}).items():
        sql = sql.replace("${" + name + "}", value).replace("$" + name, value)
    start, end = time_range.start, time_range.end
    seconds = int(max(time_range.interval_s, 1))
    milliseconds = int(max(time_range.interval_s * 1000, 1))

    def with_args(name: str, render: object) -> None:
        nonlocal sql
        pattern = re.compile(r"\$__" + name + r"\(([^()]*)\)")
        sql = pattern.sub(lambda m: render([a.strip() for a in m[1].split(",")]), sql)  # type: ignore[operator]

    with_args(
        "timeFilter_ms",
        lambda a: f"{a[0]} >= {_date_time64(start)} AND {a[0]} <= {_date_time64(end)}",
    )
    with_args(
        "timeFilter", lambda a: f"{a[0]} >= {_date_time(start)} AND {a[0]} <= {_date_time(end)}"
    )
    with_args("dateFilter", lambda a: f"{a[0]} >= {_date(start)} AND {a[0]} <= {_date(end)}")
    for name in ("dateTimeFilter", "dt"):
        with_args(
            name,
            lambda a: (
                f"({a[0]} >= {_date(start)} AND {a[0]} <= {_date(end)}) AND "
                f"({a[1]} >= {_date_time(start)} AND {a[1]} <= {_date_time(end)})"
            ),
        )
    with_args(
        "timeInterval_ms",
        lambda a: (
            f"toStartOfInterval(toDateTime64({a[0]}, 3), INTERVAL {milliseconds} millisecond)"
        ),
    )
    with_args(
        "timeInterval",
        lambda a: f"toStartOfInterval(toDateTime({a[0]}), INTERVAL {seconds} second)",
    )
    for name, value in (
        ("fromTime_ms", _date_time64(start)),
        ("toTime_ms", _date_time64(end)),
        ("fromTime", _date_time(start)),
        ("toTime", _date_time(end)),
        ("interval_s", str(seconds)),
    ):
        sql = re.sub(r"\$__" + name + r"(\(\))?(?!\w)", value, sql)
    if "$__" in sql:
        raise ValueError(f"unexpanded macro in: {sql}")
    return sql
