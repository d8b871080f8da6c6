"""The one guard between instrumentation and the pipeline.

The SDK must never hurt a pipeline: an exception raised by *our* code (naming a
dataset, reading a schema, building attributes) is caught here, logged once per
kind, and swallowed, while the wrapped call's own result or exception reaches
the caller untouched. Every instrumentor routes its fact-gathering through
`guarded` or `call_guarded`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

_logger = logging.getLogger("dataops_otel")
_T = TypeVar("_T")

_seen_lock = threading.Lock()
_seen_kinds: set[str] = set()


def log_once(kind: str, exc: BaseException) -> None:
    """Log an instrumentation failure the first time this `kind` fails.

    Later failures of the same kind are counted in `failure_counts` but not
    logged, so a per-row or per-call failure cannot flood the pipeline's logs.
    """
    with _seen_lock:
        first = kind not in _seen_kinds
        _seen_kinds.add(kind)
        failure_counts[kind] = failure_counts.get(kind, 0) + 1
    if first:
        _logger.warning(
            "dataops-otel instrumentation failed in %s (%s: %s); the pipeline is "
            "unaffected, further failures of this kind are not logged",
            kind,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )


failure_counts: dict[str, int] = {}
"""How many times each kind of instrumentation failure happened in this process."""


@contextmanager
def guarded(kind: str) -> Iterator[None]:
    """Run a block of instrumentation code; swallow and log-once what it raises."""
    try:
        yield
    except Exception as exc:
        log_once(kind, exc)


def call_guarded(kind: str, func: Callable[[], _T], default: _T) -> _T:
    """Return `func()`, or `default` if instrumentation code in it raises."""
    try:
        return func()
    except Exception as exc:
        log_once(kind, exc)
        return default


def reset_for_tests() -> None:
    """Forget which kinds were logged (tests assert the log-once behaviour)."""
    with _seen_lock:
        _seen_kinds.clear()
        failure_counts.clear()
