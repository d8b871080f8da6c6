"""Storage errors: a small hierarchy that the receiver and endpoints map to status codes."""

from __future__ import annotations


class StorageError(Exception):
    """ClickHouse refused or failed a statement."""


class StorageUnavailable(StorageError):
    """Storage cannot take writes right now; the caller should retry later."""


class ReadOnlyViolation(StorageError):
    """A statement that would change data reached a read-only entry point."""
