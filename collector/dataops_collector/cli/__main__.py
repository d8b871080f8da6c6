"""`python -m dataops_collector.cli` runs the `dataops` command."""

from dataops_collector.cli import main

main()
