"""Load configuration that the views join against: SLO objectives and cost rates.

SLOs come from a YAML file (``slo_file``)::

    slos:
      - dataset: "file:///data/marts/*"        # a dataset id or a glob
        freshness: 2h                           # objective: s, m, h, d
        freshness_target: 0.99                  # share of time fresh (error budget 1%)
        completeness: 0.99                      # rows / baseline, optional
        critical: true

They replace the table's content on every collector start. Cost rates
(``cost_cpu_second``, ``cost_gb_scanned``, ``cost_gb_written``) are appended
with the time they take effect only when they differ from the rates in force,
so a rate change never rewrites the cost of past events.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from dataops_collector.storage.base import Store

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Slo:
    pattern: str
    freshness_seconds: int | None
    completeness: float | None
    critical: bool
    freshness_target: float = 0.99

    @property
    def regex(self) -> str:
        """The glob as an RE2 expression for ClickHouse's match(): * and ? only."""
        parts = []
        for char in self.pattern:
            parts.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
        return "^" + "".join(parts) + "$"


def parse_duration(text: Any) -> int:
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"not a duration (use 90s, 15m, 2h, 1d): {text!r}")
    return int(float(match[1]) * _UNITS[match[2]])


def read_slo_file(path: str) -> list[Slo]:
    import yaml

    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle) or {}
    entries = document.get("slos", []) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list under 'slos'")
    slos = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("dataset"):
            raise ValueError(f"{path}: slos[{index}] needs a 'dataset' id or glob")
        freshness = entry.get("freshness")
        completeness = entry.get("completeness")
        slos.append(
            Slo(
                pattern=str(entry["dataset"]),
                freshness_seconds=parse_duration(freshness) if freshness is not None else None,
                completeness=float(completeness) if completeness is not None else None,
                critical=bool(entry.get("critical", False)),
                freshness_target=float(entry.get("freshness_target", 0.99)),
            )
        )
    return slos


def store_slos(store: Store, slos: list[Slo]) -> None:
    import pyarrow as pa

    store.command("TRUNCATE TABLE dataops_slos")
    if not slos:
        return
    now = time.time_ns() // 1_000_000
    table = pa.table(
        {
            "Pattern": [s.pattern for s in slos],
            "Regex": [s.regex for s in slos],
            "FreshnessObjectiveSeconds": pa.array([s.freshness_seconds for s in slos], pa.uint64()),
            "FreshnessTarget": pa.array([s.freshness_target for s in slos], pa.float64()),
            "CompletenessObjective": pa.array([s.completeness for s in slos], pa.float64()),
            "Critical": pa.array([int(s.critical) for s in slos], pa.uint8()),
            "LoadedAt": pa.array([now] * len(slos), pa.timestamp("ms")),
        }
    )
    store.insert_arrow("dataops_slos", table)


def store_cost_rates(
    store: Store,
    *,
    cpu_second: float,
    gb_scanned: float,
    gb_written: float,
    effective_ns: int | None = None,
) -> bool:
    """Append the rates if they differ from those in force; True when appended."""
    current = store.query_rows(
        "SELECT CpuSecond, GbScanned, GbWritten, count() OVER () AS n FROM dataops_cost_rates FINAL"
        " ORDER BY EffectiveFrom DESC LIMIT 1"
    ).rows
    rates = (float(cpu_second), float(gb_scanned), float(gb_written))
    if current and tuple(float(v) for v in current[0][:3]) == rates:
        return False
    # The first rates apply to all history; later ones from now on.
    when = 0 if not current else (effective_ns if effective_ns is not None else time.time_ns())
    store.command(
        "INSERT INTO dataops_cost_rates (EffectiveFrom, CpuSecond, GbScanned, GbWritten)"
        " VALUES (fromUnixTimestamp64Nano({t:Int64}), {c:Float64}, {s:Float64}, {w:Float64})",
        parameters={"t": when, "c": rates[0], "s": rates[1], "w": rates[2]},
    )
    return True


def load(store: Store, settings: Any) -> None:
    """Called by the collector at start: SLO file (if any) and cost rates."""
    if getattr(settings, "slo_file", None):
        store_slos(store, read_slo_file(settings.slo_file))
    store_cost_rates(
        store,
        cpu_second=settings.cost_cpu_second,
        gb_scanned=settings.cost_gb_scanned,
        gb_written=settings.cost_gb_written,
    )
