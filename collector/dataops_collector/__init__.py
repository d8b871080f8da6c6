"""dataops-otel collector: OTLP receiver, ClickHouse storage, DataOps analytics and CLI."""

from __future__ import annotations

__version__ = "0.1.0"
