"""Privilege and environment commands for containers of many processes."""

__version__ = "0.1.0"
