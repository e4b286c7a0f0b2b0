"""``python -m envtools COMMAND ...`` and the zipapp's entry point."""

from __future__ import annotations

from envtools.multicall import main

if __name__ == "__main__":
    main()
