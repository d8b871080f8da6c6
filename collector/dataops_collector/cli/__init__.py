"""The `dataops` command line: one click group, one module per command family.

`collector.py` runs the collector, `sql.py` holds `sql` and `migrate`,
`analytics.py` the on-call answers (`datasets`, `lineage`, `freshness`, ...),
`demo.py` the one-command tour. The CLI owns the terminal; library modules log.
"""

from __future__ import annotations

import click

from dataops_collector import __version__
from dataops_collector.cli import analytics, collector, demo, sql


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dataops")
def main() -> None:
    """dataops-otel: OpenTelemetry for data pipelines."""


for _module in (collector, sql, analytics, demo):
    for _command in _module.COMMANDS:
        main.add_command(_command)
