"""Placeholder: this command family is being built."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
