"""`dataops sql` and `dataops migrate`: plain SQL against the collector's endpoint or a server."""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

import click

DEFAULT_URL = "http://127.0.0.1:8123"
URL_HELP = (
    "ClickHouse HTTP URL: the collector's query endpoint or a server (env DATAOPS_CLICKHOUSE_URL)."
)


def resolve_url(url: str | None) -> str:
    return url or os.environ.get("DATAOPS_CLICKHOUSE_URL") or DEFAULT_URL


def open_url_store(url: str) -> Any:
    """A `Store` over clickhouse-connect; one clear error when it cannot be reached."""
    from dataops_collector.storage.clickhouse_server import ClickHouseServerStore, redact_url
    from dataops_collector.storage.errors import StorageError

    try:
        return ClickHouseServerStore(url)
    except (StorageError, ValueError) as exc:
        raise click.ClickException(f"cannot query {redact_url(url)}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    if fmt == "json":
        click.echo(
            json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str, indent=2)
        )
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        Console().print(table)


@click.command("sql")
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.option("--clickhouse-url", help=URL_HELP)
def sql_command(query: str, fmt: str, clickhouse_url: str | None) -> None:
    """Run a read query and print the result."""
    from dataops_collector.storage.errors import StorageError

    store = open_url_store(resolve_url(clickhouse_url))
    try:
        result = store.query_rows(query)
    except StorageError as exc:
        raise click.ClickException(_first_line(exc)) from exc
    finally:
        store.close()
    render(result.column_names, result.rows, fmt)


@click.command("migrate")
@click.option(
    "--clickhouse-url", required=True, help="ClickHouse server URL (with a writable user)."
)
@click.option("--retention-days", type=int, default=None, help="TTL in days (default 30).")
def migrate_command(clickhouse_url: str, retention_days: int | None) -> None:
    """Create or update the DataOps tables on a ClickHouse server (idempotent)."""
    from dataops_collector.schema.migrate import apply_migrations
    from dataops_collector.storage.errors import StorageError

    store = open_url_store(clickhouse_url)
    try:
        applied = apply_migrations(store, retention_days=retention_days)
    except StorageError as exc:
        raise click.ClickException(f"migration failed: {_first_line(exc)}") from exc
    finally:
        store.close()
    click.echo("applied: " + (", ".join(applied) if applied else "nothing (already up to date)"))


COMMANDS: list[click.Command] = [sql_command, migrate_command]
