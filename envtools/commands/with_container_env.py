"""Placeholder until the command lands."""

from __future__ import annotations

import sys


def main() -> None:
    sys.stderr.write("not yet\n")
    sys.exit(125)
