"""Console progress of the command line: the upload bar, the live status line, and the printer that
turns the Python API's events (``amlplatform.runs.events``) into the lines ``amlplatform submit``
shows. The runtime shim prints nothing; this is where its progress becomes text."""

import sys
import time
from typing import Any, Callable, Mapping, Optional, TextIO

from amlplatform.runs.events import Event

# azure-ai-ml operations/_run_history_constants.py RunHistoryConstants.TERMINAL_STATUSES
TERMINAL_STATES = frozenset({"Completed", "Failed", "Canceled", "NotResponding", "Paused"})


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:
        return False


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


class ByteProgress:
    """An upload progress bar on a terminal; silent when the stream is not a TTY."""

    def __init__(self, stream: Optional[TextIO] = None, *, label: str = "uploading", enabled: Optional[bool] = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = _is_tty(self.stream) if enabled is None else enabled
        self.label = label
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        frac = done / total if total else 1.0
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        self.stream.write(f"\r{self.label} [{bar}] {_human(done)}/{_human(total)}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


class StatusLine:
    """``on_status`` for ``wait``: one live line on a terminal, one line per change otherwise."""

    def __init__(self, job_name: str, stream: Optional[TextIO] = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.job_name = job_name
        self.stream = stream or sys.stderr
        self.tty = _is_tty(self.stream)
        self.clock = clock
        self.start = clock()
        self.last: Optional[str] = None

    def __call__(self, status: str, job: Mapping[str, Any]) -> None:
        elapsed = int(self.clock() - self.start)
        text = f"{self.job_name}: {status} ({elapsed // 60}m{elapsed % 60:02d}s)"
        if self.tty:
            end = "\n" if status in TERMINAL_STATES else ""
            self.stream.write("\r\033[K" + text + end)
        elif status != self.last:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.last = status


class EventPrinter:
    """``on_event`` for the API: notes, warnings and submission steps as lines on ``stream`` (stderr),
    the upload as a ``ByteProgress`` bar, a wait's polls as a ``StatusLine``.

    ``cancel_hint`` is the command that cancels the job by hand (shown when Ctrl-C during a submission
    could not settle whether the job exists)."""

    def __init__(self, stream: Optional[TextIO] = None, *, cancel_hint: Callable[[str], str] = lambda job: "") -> None:
        self.stream = stream or sys.stderr
        self.cancel_hint = cancel_hint
        self.bar: Optional[ByteProgress] = None
        self.status_lines: dict[str, StatusLine] = {}

    def _line(self, text: str) -> None:
        try:
            print(text, file=self.stream, flush=True)
        except (OSError, ValueError):
            pass  # a terminal that went away must not stop the run

    def __call__(self, event: Event) -> None:
        kind, data = event.kind, event.data
        if kind == "warning":
            self._line(f"warning: {event.message}")
        elif kind == "upload":
            if self.bar is None:
                self.bar = ByteProgress(self.stream)
            self.bar(int(data["done"]), int(data["total"]))
        elif kind == "status":
            job = str(data.get("job"))
            line = self.status_lines.get(job)
            if line is None:
                line = self.status_lines[job] = StatusLine(job, self.stream)
            line(str(data.get("status")), data.get("details") or {})
        elif kind == "interrupted":
            self._interrupted(event)
        else:
            self._line(event.message)

    def _interrupted(self, event: Event) -> None:
        data = event.data
        job, outcome = str(data.get("job")), data.get("outcome")
        manual = self.cancel_hint(job)
        if outcome == "checking":
            self._line(f"\n{event.message}")
        elif outcome == "not_created":
            self._line(f"job {job}: not created; nothing to cancel (should the interrupted request still reach "
                       f"the service: {manual})")
        elif outcome == "check_failed":
            self._line(f"job {job}: could not check it ({data.get('error')}); if it was created, cancel it: {manual}")
        elif outcome == "cancel_failed":
            self._line(f"job {job}: was created, but the cancel failed ({data.get('error')}); cancel it: {manual}")
        else:
            self._line(event.message)
