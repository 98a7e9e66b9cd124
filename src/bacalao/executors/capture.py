"""Capture a job's stdout and stderr into capped files while forwarding chunks to a log callback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import BinaryIO

from bacalao.executors.base import STDERR, STDOUT, LogCallback

_logger = logging.getLogger(__name__)

#: Per stream; a job that writes more keeps running, the rest is dropped and flagged as truncated.
DEFAULT_MAX_LOG_BYTES = 64 << 20


class OutputCapture:
    """Two capped files, ``stdout`` and ``stderr``, in the run directory.

    ``write`` is called from one thread at a time (the event loop, or one reader thread). Bytes
    past ``max_bytes`` are neither stored nor forwarded: the live log of a runaway job must not
    flood the node either.
    """

    def __init__(
        self,
        stdout_path: Path,
        stderr_path: Path,
        *,
        log: LogCallback | None = None,
        max_bytes: int = DEFAULT_MAX_LOG_BYTES,
        create_empty: bool = True,
    ) -> None:
        self.paths = {STDOUT: stdout_path, STDERR: stderr_path}
        # create_empty=False makes a stream's file on its first byte only: an engine that
        # mostly prints nothing (noop) then spares two file creations a run; whoever reads the
        # files treats a missing one as empty, and the result layout adds it
        self._files: dict[str, BinaryIO | None] = {
            name: path.open("wb", buffering=0) if create_empty else None
            for name, path in self.paths.items()
        }
        self._written = {STDOUT: 0, STDERR: 0}
        self.truncated = {STDOUT: False, STDERR: False}
        self._log = log
        self._max = max_bytes
        self._closed = False

    def write(self, stream: str, chunk: bytes) -> None:
        """Store and forward ``chunk`` of ``stream`` ("stdout" or "stderr"), up to the cap."""
        if not chunk or self._closed:
            return
        room = self._max - self._written[stream]
        if room <= 0:
            self.truncated[stream] = True
            return
        if len(chunk) > room:
            chunk = chunk[:room]
            self.truncated[stream] = True
        f = self._files[stream]
        if f is None:
            f = self._files[stream] = self.paths[stream].open("wb", buffering=0)
        f.write(chunk)
        self._written[stream] += len(chunk)
        if self._log is not None:
            try:
                self._log(stream, chunk)
            except Exception:  # a broken log consumer must not break the execution
                _logger.exception("log callback failed; live logs for this execution stop here")
                self._log = None

    def close(self) -> None:
        """Close both files; safe to call twice. Later writes (stragglers) are dropped."""
        self._closed = True
        for f in self._files.values():
            if f is not None:
                f.close()

    def __enter__(self) -> OutputCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
