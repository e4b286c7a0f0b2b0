"""A FIFO with a writer blocked on it, to prove nobody opened it to read."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def blocked_writer(path: Path) -> Iterator[threading.Event]:
    """Block a writer thread on the FIFO *path* while the block runs.

    :returns: an event set once some process opens the FIFO for reading,
        which is what wakes the writer.  On exit the FIFO is opened for
        reading here, so the thread always ends.
    """
    opened = threading.Event()

    def writer() -> None:
        fd = os.open(path, os.O_WRONLY)
        opened.set()
        os.close(fd)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield opened
    finally:
        release = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        thread.join(timeout=10)
        os.close(release)
