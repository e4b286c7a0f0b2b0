"""Privilege and environment commands for containers that run many processes."""

__version__ = "0.1.0"
