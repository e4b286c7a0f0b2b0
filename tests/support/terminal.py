"""An interactive program on a pty of its own, typed at, read with deadlines.

The program is the session leader of a new pty, so it has a controlling
terminal as it would in a terminal emulator.  Everything is read through the
master side; nothing is ever waited for by a fixed sleep.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import selectors
import struct
import subprocess
import termios
import time

# Rows and columns the pty reports: wide enough that readline never wraps.
WINDOW = (24, 200)


def take_terminal() -> None:
    """In a new session: make stdin, a pty's slave, the controlling tty.

    For ``preexec_fn`` with ``start_new_session``.
    """
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A process started on a new pty; *output* holds all it wrote so far.

    :meth:`expect` reads on from where its last match ended, so each call
    waits for output that came after the previous one.
    """

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        size = struct.pack("HHHH", WINDOW[0], WINDOW[1], 0, 0)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
        try:
            self.process = subprocess.Popen(
                argv,
                env=env,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
                preexec_fn=take_terminal,
            )
        except BaseException:
            os.close(self.master)
            raise
        finally:
            os.close(slave)
        self.output = b""
        self._seen = 0

    def send(self, keys: bytes) -> None:
        """Send *keys* as if typed."""
        os.write(self.master, keys)

    def expect(self, pattern: bytes, timeout: float = 15) -> re.Match[bytes]:
        """Wait for *pattern* in the output after the last match; return it.

        :raises TimeoutError: no match within *timeout* seconds, or the
            program ended first; the output so far is in the message.
        """
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern)
        with selectors.DefaultSelector() as selector:
            selector.register(self.master, selectors.EVENT_READ)
            while (found := compiled.search(self.output, self._seen)) is None:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError(f"no {pattern!r} in time; got {self.output!r}")
                self._read()
        self._seen = found.end()
        return found

    def _read(self) -> None:
        try:
            chunk = os.read(self.master, 65536)
        except OSError:
            # EIO: the slave side is closed, the program is gone.
            chunk = b""
        if not chunk:
            raise TimeoutError(f"the program ended; got {self.output!r}")
        self.output += chunk

    def close(self) -> None:
        """Hang up the pty, then kill the program by its pid if it stays."""
        os.close(self.master)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
