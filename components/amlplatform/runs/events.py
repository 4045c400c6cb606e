"""What the Python API reports while it works: events, never prints.

``submit(..., on_event=callback)`` and ``Run.wait(on_event=...)`` call ``callback(Event)`` for
every step a user may want to see; the command line turns them into its console output
(``amlplatform.cli.progress``), a notebook can pass ``print`` (an event prints as its message).

Kinds (``Event.kind``) and their ``data``:

- ``warning``: a job file accepted with a likely mistake (an input the command never names).
- ``note``: a line of the local backend (preparing, running, a pipeline step's state).
- ``submitting``: ``{"job", "type", "workspace"}`` before the first workspace call.
- ``upload``: ``{"done", "total"}`` bytes of the upload in progress (many per submission).
- ``uploaded``: ``{"job", "bytes", "reused", "uploads"}`` once code and data are in the workspace.
- ``created``: ``{"job", "status", "studio"}`` the job exists in the workspace.
- ``status``: ``{"job", "status", "details"}`` each poll of a waiting ``Run.wait`` (same status again too).
- ``interrupted``: ``{"job", "outcome", "error"?}`` Ctrl-C during a workspace submission, after the
  job was looked up: outcome ``checking`` (before the look-up), ``not_created``, ``check_failed``,
  ``already_ended`` (``status``), ``cancel_failed``, ``cancel_requested``.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional


@dataclass(frozen=True)
class Event:
    kind: str
    message: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


EventCallback = Callable[[Event], None]


def emitter(on_event: Optional[EventCallback]) -> Callable[..., None]:
    """``emit(kind, message, **data)`` calling ``on_event`` (nothing when it is ``None``)."""

    def emit(kind: str, message: str = "", **data: Any) -> None:
        if on_event is not None:
            on_event(Event(kind, message, data))

    return emit


class NoteLines:
    """A text stream for the local backend's ``notes``: each whole line becomes a ``note`` event."""

    def __init__(self, on_event: Optional[EventCallback]) -> None:
        self.emit = emitter(on_event)
        self.partial = ""

    def write(self, text: str) -> int:
        data = self.partial + text
        *lines, self.partial = data.split("\n")
        for line in lines:
            self.emit("note", line)
        return len(text)

    def flush(self) -> None:
        pass


class Discard:
    """A binary stream that keeps nothing (a local run's live output when nobody asked for it:
    the run's ``output.log`` has it all)."""

    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass
