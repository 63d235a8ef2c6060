"""Progress on a terminal (rich), nothing otherwise: ``with stage_progress(app, "check") as p``.

The callback has the stages' signature ``progress(done, total)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

ProgressFn = Callable[[int, int], None]


def _noop(done: int, total: int) -> None:
    return None


@contextmanager
def stage_progress(interactive: bool, label: str) -> Iterator[ProgressFn]:
    """A progress bar on stderr while the block runs, when a person is watching."""
    if not interactive:
        yield _noop
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total or None)

    with bar:
        yield update
