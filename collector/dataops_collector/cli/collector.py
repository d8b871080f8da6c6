"""`dataops collector`: run the OTLP collector until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from dataops_collector.config import load_settings
from dataops_collector.logging_setup import configure_logging


@click.command("collector")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="YAML config file.")
@click.option("--listen", help="OTLP/gRPC HOST:PORT (default 127.0.0.1:4317).")
@click.option("--http-listen", help="OTLP/HTTP and /metrics HOST:PORT (default 127.0.0.1:4318).")
@click.option("--query-listen", help="Read-only SQL endpoint HOST:PORT (default 127.0.0.1:8123).")
@click.option("--data-dir", help="Embedded ClickHouse data directory (default ./dataops-data).")
@click.option("--clickhouse-url", help="ClickHouse server URL http://user:pass@host:8123/db.")
@click.option("--retention-days", type=int, help="TTL of stored spans and events (default 30).")
def collector_command(config_file: str | None, **flags: Any) -> None:
    """Receive OTLP traces and store them in ClickHouse (embedded by default)."""
    from dataops_collector.app import Collector

    if flags.get("data_dir") and flags.get("clickhouse_url"):
        raise click.UsageError("use either --data-dir or --clickhouse-url, not both")
    try:
        settings = load_settings(flags=flags, config_file=config_file)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log_format)
    collector = Collector(settings)
    try:
        collector.start()
    except Exception as exc:  # startup problems are the user's to fix: one clear line
        raise click.ClickException(f"collector could not start: {exc}") from exc

    def stop(signum: int, _frame: Any) -> None:
        signal.signal(signum, signal.SIG_DFL)  # a second signal kills at once
        collector.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    collector.wait()
    sys.exit(0)


COMMANDS: list[click.Command] = [collector_command]
