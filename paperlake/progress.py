"""A tiny progress channel from long loops to whoever is watching (the CLI's progress bar).

Assets run in-process in the pipeline process that `paperlake run` supervises, which forwards what its
listener hears to the CLI's progress bar over a pipe; with no listener (the daemon, tests) reporting
costs one function call.
"""

from collections.abc import Callable

Listener = Callable[[str, int, int], None]
_listeners: list[Listener] = []


def report(stage: str, done: int, total: int) -> None:
    for listener in _listeners:
        listener(stage, done, total)


def subscribe(listener: Listener) -> Callable[[], None]:
    """Add a listener; returns the function that removes it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)
