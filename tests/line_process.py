"""A subprocess the tests talk to line by line: its stdout read by a thread into a queue, so a test waits
for the line it expects (bounded), never for a fixed time."""

from __future__ import annotations

import queue
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

PROCESS_TIMEOUT = 60.0


@dataclass
class LineProcess:
    process: subprocess.Popen[str]
    lines: queue.Queue[str | None]

    def next_line(self, timeout: float = PROCESS_TIMEOUT) -> str:
        """The next line it writes; an AssertionError with its stderr if it exits first."""
        line = self.lines.get(timeout=timeout)
        if line is None:
            self.process.wait(timeout=timeout)
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"the process exited with {self.process.returncode}:\n{stderr}")
        return line.strip()

    def close(self) -> None:
        """Killed if it still runs; its pipes closed."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def start_line_process(command: list[str], env: dict[str, str], cwd: Path) -> LineProcess:
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return LineProcess(process, lines)
