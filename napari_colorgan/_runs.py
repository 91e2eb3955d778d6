"""A dock widget whose button runs one job at a time in a napari worker thread.

The press only snapshots the widget's values and starts the worker; everything
that reads, loads or computes runs in the job. Progress shows from the first
moment, in the widget (a bar and a line of text) and in napari's activity dock.
Every way a run ends returns the widget to idle: done, cancelled (nothing is
added) or failed (one notification, the traceback in the log).
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any, Callable

from magicgui.widgets import Container, Label, ProgressBar, PushButton

log = logging.getLogger(__name__)


class State(Enum):
    IDLE = "idle"
    RUNNING = "running"
    CANCELLED = "cancelled"
    DONE = "done"
    FAILED = "failed"


class WorkerWidget(Container):
    """The button, progress and end of a run; subclasses say what a press starts.

    A subclass passes its fields to ``__init__`` and defines :meth:`start`, which
    reads its fields once into a frozen snapshot and calls :meth:`launch`. The
    button reads :attr:`title` while idle and *Cancel* while running.
    """

    title = ""

    def __init__(self, widgets: list) -> None:
        self._run = PushButton(text=self.title)
        self._run.changed.connect(self._on_click)
        self._bar = ProgressBar(value=0, min=0, max=1, visible=False)
        self._status = Label(value="")
        self._status.native.setWordWrap(True)
        super().__init__(widgets=[*widgets, self._run, self._bar, self._status])
        self.state = State.IDLE
        self.worker = None
        self._progress = None
        self._cancelled = False

    def start(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _on_click(self) -> None:
        if self.state is State.RUNNING:
            self.cancel()
        else:
            self.start()

    def launch(
        self, job: Callable, snapshot: Any, desc: str, on_yield: Callable, on_return: Callable
    ) -> None:
        """Run the generator ``job(snapshot)`` in a worker: ``on_yield`` per item, then
        ``on_return`` with its result, unless cancelled."""
        from napari.qt.threading import create_worker
        from napari.utils import progress

        self._cancelled = False
        self._progress = progress(total=0, desc=desc)
        self._bar.max, self._bar.value, self._bar.visible = 0, 0, True  # busy until counted
        self._status.value = f"{desc}: starting"
        # errors are shown here, once, with the traceback logged: not by napari as well
        self.worker = create_worker(job, snapshot, _start_thread=False, _ignore_errors=True)
        self.worker.yielded.connect(on_yield)
        self.worker.returned.connect(lambda result: self._returned(on_return, result))
        self.worker.errored.connect(self.fail)
        self.worker.warned.connect(_relay_warning)
        self.worker.aborted.connect(self._aborted)
        self.worker.finished.connect(self._finished)
        self.state = State.RUNNING
        self._run.text = "Cancel"
        self.worker.start()

    def show_progress(self, stage: str, done: int, total: int) -> None:
        """Count ``done`` of ``total`` steps of ``stage`` in both progress bars."""
        if self.state is not State.RUNNING:
            return
        self._bar.max, self._bar.value = max(total, 0), min(done, max(total, 0))
        self._status.value = f"{stage} {done}/{total}" if total else stage
        bar = self._progress  # napari's bar may process events: the run can end in there
        if bar is not None:
            if bar.total != total:
                bar.total = total
            bar.set_description(stage)
            bar.update(done - bar.n)

    def cancel(self) -> None:
        """Stop at the next step; nothing is added or written."""
        self._cancelled = True
        if self.worker is not None:
            self.worker.quit()

    def fail(self, err: BaseException) -> None:
        """End in FAILED with one notification; the traceback goes to the log."""
        from napari.utils.notifications import show_error

        self.state = State.FAILED
        log.error("%s failed", self.title, exc_info=(type(err), err, err.__traceback__))
        self._status.value = f"failed: {err}"
        show_error(f"{self.title}: {err}")

    def _returned(self, on_return: Callable, result: Any) -> None:
        if self._cancelled:  # a Cancel that came after the last step adds nothing either
            self.state = State.CANCELLED
            return
        self._status.value = "done"
        try:
            on_return(result)
        except Exception as err:  # shown once; the widget stays usable
            self.fail(err)
        else:
            self.state = State.DONE

    def _aborted(self) -> None:
        self.state = State.CANCELLED

    def _finished(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        self._bar.visible = False
        if self.state is State.RUNNING:  # ended without a result, an error or an abort
            self.state = State.CANCELLED if self._cancelled else State.FAILED
        if self.state is State.CANCELLED:
            self._status.value = "cancelled: nothing added"
        self._run.text = self.title


def _relay_warning(args: tuple) -> None:
    """A warning in the worker (the domain check's) as a napari notification.

    napari's worker classes mean to relay them, but their mixin's ``__init__`` is
    never reached; napari drops a warning it has already shown, so one is shown once.
    """
    from napari.utils.notifications import notification_manager

    notification_manager.receive_warning(*args)
