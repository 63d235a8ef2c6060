"""CLI commands: corpus."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
