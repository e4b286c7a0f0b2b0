"""The campaign's figures: printed after the run, saved when asked."""

from __future__ import annotations

import json
import os

import pytest

from support.campaign import FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the campaign tried, and write it to $ENVTOOLS_CAMPAIGN_FIGURES."""
    if not FIGURES:
        return
    terminalreporter.section("campaign figures")
    for kind in sorted(FIGURES):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(FIGURES[kind].items()))
        terminalreporter.write_line(f"{kind}: {counts}")
    target = os.environ.get("ENVTOOLS_CAMPAIGN_FIGURES")
    if target:
        data = {kind: dict(counts) for kind, counts in FIGURES.items()}
        with open(target, "w") as stream:
            json.dump(data, stream, indent=1, sort_keys=True)
