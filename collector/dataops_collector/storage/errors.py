"""Storage errors: a small hierarchy that the receiver and endpoints map to status codes."""

from __future__ import annotations


class StorageError(Exception):
    """ClickHouse refused or failed a statement."""


class StorageUnavailable(StorageError):
    """Storage cannot take writes right now; the caller should retry later."""


class StorageRejectedData(StorageError):
    """ClickHouse could not parse the inserted bytes; retrying them cannot help.

    Raised only for failures of the input format itself, which happen before
    anything is written, so the bytes can be split and retried in parts.
    """


class ReadOnlyViolation(StorageError):
    """A statement that would change data reached a read-only entry point."""
