"""pandas auto-instrumentation: one span per dataset read or write, with lineage.

Usage::

    from dataops_otel.instrumentation.pandas import PandasInstrumentor

    PandasInstrumentor().instrument()          # or dataops_otel.init(), which does it

or with no code change, through the standard launcher (our entry point is
registered under ``opentelemetry_instrumentor``)::

    opentelemetry-instrument python etl.py

Every call of a reader (``read_csv``, ``read_parquet``, ``read_json``,
``read_excel``, ``read_feather``, ``read_orc``, ``read_table``, ``read_fwf``,
``read_pickle``) or writer (``to_csv``, ``to_parquet``, ``to_json``,
``to_excel``, ``to_feather``, ``to_orc``, ``to_pickle``) is one span
(``pandas.read_csv``, ...) with the dataset id, operation, rows, columns,
schema and hash, format, bytes (file size for local files), CPU seconds and
error status. A write's ``dataops.inputs`` are the datasets its frame was
derived from (`dataops_otel.lineage`). A reader that pandas calls from inside
another instrumented call produces no second span.

Buffers and file objects get the id of their file when they have a real file
name, else ``inmemory://python/<type>``. No values are ever read: schemas come
from dtypes and rows from ``len()``.
"""

from __future__ import annotations

import contextvars
import logging
import os
import stat
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.util.types import AttributeValue

from dataops_otel import lineage, semconv
from dataops_otel.datasets import dataset_id_for_path
from dataops_otel.guard import guarded, log_once
from dataops_otel.instrumentation._suppression import suppressed
from dataops_otel.operation import DatasetOperation, dataset_operation
from dataops_otel.schema import schema_from_pandas
from dataops_otel.version import __version__

_logger = logging.getLogger(__name__)

_instruments: Final = ("pandas >= 2.0",)


@dataclass(frozen=True)
class IoCall:
    """One instrumented pandas I/O function: where it lives and where its target is."""

    owner: str  # module or class path that holds the function
    name: str
    target_arg: str  # parameter naming the path/buffer
    dataset_format: str
    is_write: bool


READERS: Final = (
    IoCall("pandas", "read_csv", "filepath_or_buffer", "csv", False),
    IoCall("pandas", "read_table", "filepath_or_buffer", "csv", False),
    IoCall("pandas", "read_fwf", "filepath_or_buffer", "fwf", False),
    IoCall("pandas", "read_json", "path_or_buf", "json", False),
    IoCall("pandas", "read_parquet", "path", "parquet", False),
    IoCall("pandas", "read_excel", "io", "excel", False),
    IoCall("pandas", "read_feather", "path", "feather", False),
    IoCall("pandas", "read_orc", "path", "orc", False),
    IoCall("pandas", "read_pickle", "filepath_or_buffer", "pickle", False),
)
WRITERS: Final = (
    IoCall("pandas.core.generic", "NDFrame.to_csv", "path_or_buf", "csv", True),
    IoCall("pandas.core.generic", "NDFrame.to_json", "path_or_buf", "json", True),
    IoCall("pandas.core.generic", "NDFrame.to_excel", "excel_writer", "excel", True),
    IoCall("pandas.core.generic", "NDFrame.to_pickle", "path", "pickle", True),
    IoCall("pandas.core.frame", "DataFrame.to_parquet", "path", "parquet", True),
    IoCall("pandas.core.frame", "DataFrame.to_feather", "path", "feather", True),
    IoCall("pandas.core.frame", "DataFrame.to_orc", "path", "orc", True),
)
# Lineage propagation hooks (see dataops_otel.lineage for why each exists).
_FINALIZE: Final = ("pandas.core.generic", "NDFrame.__finalize__")
_BINARY_OPS: Final = tuple(
    ("pandas.core." + module, f"{cls}.{method}")
    for module, cls in (("series", "Series"), ("frame", "DataFrame"))
    for method in ("_arith_method", "_cmp_method", "_logical_method")
)
_SETITEM: Final = (("pandas.core.frame", "DataFrame.__setitem__"),)
# Some groupby paths (named aggregation, apply, transform) build their result
# without finalizing from the grouped object.
_GROUPBY_METHODS: Final = tuple(
    ("pandas.core.groupby.generic", f"{cls}.{method}")
    for cls in ("DataFrameGroupBy", "SeriesGroupBy")
    for method in ("aggregate", "agg", "apply", "transform")
)
_RESHAPE_FUNCTIONS: Final = (
    "concat",
    "merge",
    "merge_asof",
    "merge_ordered",
    "melt",
    "pivot_table",
    "crosstab",
)

_in_operation: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "dataops_pandas_in_operation", default=False
)


def in_pandas_operation() -> bool:
    """True while an instrumented pandas call is running in this context."""
    return _in_operation.get()


class PandasInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments pandas file readers and writers, and tracks DataFrame lineage."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(
            __name__, __version__, tracer_provider=kwargs.get("tracer_provider")
        )
        import pandas  # fails early (caught by BaseInstrumentor) if absent

        global _FRAME_TYPES
        _FRAME_TYPES = (pandas.DataFrame, pandas.Series)

        for call in (*READERS, *WRITERS):
            if _exists(call.owner, call.name):
                wrapt.wrap_function_wrapper(call.owner, call.name, _io_wrapper(tracer, call))
        wrapt.wrap_function_wrapper(*_FINALIZE, _finalize_wrapper)
        for owner, name in _BINARY_OPS:
            if _exists(owner, name):
                wrapt.wrap_function_wrapper(owner, name, _binary_op_wrapper)
        for owner, name in _SETITEM:
            wrapt.wrap_function_wrapper(owner, name, _setitem_wrapper)
        for owner, name in _GROUPBY_METHODS:
            if _exists(owner, name):
                wrapt.wrap_function_wrapper(owner, name, _groupby_wrapper)
        for name in _RESHAPE_FUNCTIONS:
            if _exists("pandas", name):
                wrapt.wrap_function_wrapper("pandas", name, _reshape_wrapper)
        with guarded("pandas.instrument_sql"):
            _pandas_sql_hooks("instrument", tracer)

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        for call in (*READERS, *WRITERS):
            _unwrap(importlib.import_module(call.owner), call.name)
        _unwrap(importlib.import_module(_FINALIZE[0]), _FINALIZE[1])
        for owner, name in (*_BINARY_OPS, *_SETITEM, *_GROUPBY_METHODS):
            _unwrap(importlib.import_module(owner), name)
        pandas = importlib.import_module("pandas")
        for name in _RESHAPE_FUNCTIONS:
            unwrap(pandas, name)
        with guarded("pandas.uninstrument_sql"):
            _pandas_sql_hooks("uninstrument", None)


def _pandas_sql_hooks(action: str, tracer: trace.Tracer | None) -> None:
    """Let the SQLAlchemy side instrument ``read_sql*``/``to_sql`` (if present)."""
    try:
        from dataops_otel.instrumentation import pandas_sql
    except ImportError:
        _logger.debug("pandas SQL I/O instrumentation is not available")
        return
    if action == "instrument":
        pandas_sql.instrument(tracer)
    else:
        pandas_sql.uninstrument()


def _exists(owner: str, dotted: str) -> bool:
    import importlib

    try:
        obj: Any = importlib.import_module(owner)
    except ImportError:
        return False
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def _unwrap(module: Any, dotted: str) -> None:
    parent_path, _, attr = dotted.rpartition(".")
    parent = module
    for part in parent_path.split(".") if parent_path else ():
        parent = getattr(parent, part)
    unwrap(parent, attr)


# --- dataset I/O spans ------------------------------------------------------------


def _io_wrapper(tracer: trace.Tracer, call: IoCall) -> Callable[..., Any]:
    """The wrapper of one reader or writer.

    Kept lean on purpose (plain try/except instead of the guard's helpers, no
    per-call closures): on a tiny ``read_csv`` every microsecond shows, and the
    OpenTelemetry span alone costs about half of our budget there.
    """
    kind = f"pandas.{call.name.rpartition('.')[2]}"
    operation = semconv.OPERATION_WRITE if call.is_write else semconv.OPERATION_READ
    target_arg = call.target_arg
    arrow_format = call.dataset_format in _ARROW_FORMATS

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if _in_operation.get() or suppressed():
            return wrapped(*args, **kwargs)
        target = kwargs[target_arg] if target_arg in kwargs else (args[0] if args else None)
        # What a read knows before the call goes on the span when it starts.
        known: dict[str, AttributeValue] = {}
        try:
            dataset: str | None = dataset_id_for_target(target)
            if not call.is_write:
                known[semconv.DATAOPS_INPUTS] = [dataset]
                size = local_size(target)
                if size is not None:
                    known[semconv.DATAOPS_DATASET_BYTES] = size
        except Exception as exc:
            log_once(f"{kind}.target", exc)
            dataset = None
        token = _in_operation.set(True)
        try:
            with dataset_operation(
                tracer,
                kind,
                operation,
                kind=kind,
                dataset_format=call.dataset_format,
                attributes=known,
                cpu_clock=_cpu_clock(arrow_format, kwargs),
            ) as op:
                if not call.is_write:
                    result = wrapped(*args, **kwargs)
                    try:
                        _after_read(op, result, dataset)
                    except Exception as exc:
                        log_once(f"{kind}.after", exc)
                    return result
                with guarded(f"{kind}.before"):
                    _before_write(op, instance, dataset, args, kwargs)
                result = wrapped(*args, **kwargs)
                try:
                    op.set_bytes(local_size(target))
                except Exception as exc:
                    log_once(f"{kind}.bytes", exc)
                return result
        finally:
            _in_operation.reset(token)

    return wrapper


# Formats pandas reads and writes through Arrow, whose thread pool does the work.
_ARROW_FORMATS: Final = frozenset({"parquet", "feather", "orc"})


def _cpu_clock(arrow_format: bool, kwargs: Mapping[str, Any]) -> Callable[[], float]:
    """Process CPU where Arrow's threads do the work, else the calling thread's CPU.

    The calling thread's clock is exact for pandas' own parsers and writers,
    does not charge the operation with other threads' work (an exporter
    thread, the application's), and is cheaper to read in a process with
    many threads.
    """
    if arrow_format or kwargs.get("engine") == "pyarrow":
        return time.process_time
    return time.thread_time


def _before_write(
    op: DatasetOperation,
    frame: Any,
    dataset: str | None,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> None:
    if dataset:
        op.add_output(dataset)
    upstream = lineage.inputs_of(frame)
    if upstream:
        op.add_input(*upstream)
    op.set_rows(len(frame))
    op.set_schema(schema_from_pandas(frame))
    mode = str(kwargs.get("mode", "w"))
    op.set(semconv.DATAOPS_WRITE_MODE, "append" if mode.startswith("a") else "overwrite")


def _after_read(op: DatasetOperation, result: Any, dataset: str | None) -> None:
    if isinstance(result, _FRAME_TYPES):  # the common case, kept short
        if dataset:
            lineage.record_source(result, dataset)
        op.set_rows(len(result))
        op.set_schema(schema_from_pandas(result))
        return
    # read_excel(sheet_name=None) and friends: a dict of frames
    values = result.values() if isinstance(result, dict) else ()
    frames: list[Any] = [f for f in values if isinstance(f, _FRAME_TYPES)]
    if not frames:  # an iterator (chunksize=...) or an unexpected type: id only
        return
    if dataset:
        for frame in frames:
            lineage.record_source(frame, dataset)
    op.set_rows(sum(len(f) for f in frames))
    if len(frames) == 1:
        op.set_schema(schema_from_pandas(frames[0]))


_FRAME_TYPES: tuple[Any, ...] = ()  # (DataFrame, Series), set by instrument()


# Ids of absolute paths and URLs, which do not depend on the working directory.
_ID_CACHE: dict[str, str] = {}
_MAX_CACHED_IDS = 4096


def dataset_id_for_target(target: Any) -> str:
    """Dataset id of what a pandas reader/writer was given: path, URL, file or buffer."""
    if target is None:
        return "inmemory://python/return-value"
    if isinstance(target, (str, os.PathLike)):
        text = os.fspath(target)
        if not isinstance(text, str) or _looks_like_data(text):
            return "inmemory://python/str"
        cached = _ID_CACHE.get(text)
        if cached is not None:
            return cached
        dataset = dataset_id_for_path(text)
        if (text.startswith("/") or "://" in text) and len(_ID_CACHE) < _MAX_CACHED_IDS:
            _ID_CACHE[text] = dataset
        return dataset
    name = getattr(target, "name", None)
    if isinstance(name, str) and name and not name.startswith("<") and os.path.exists(name):
        return dataset_id_for_path(name)
    for attribute in ("_path", "path"):  # e.g. pandas.ExcelWriter
        path = getattr(target, attribute, None)
        if isinstance(path, str) and path:
            return dataset_id_for_path(path)
    return f"inmemory://python/{type(target).__name__}"


def _looks_like_data(text: str) -> bool:
    """A literal document handed to a reader (``read_json('{...}')``), not a path."""
    return "\n" in text or text.lstrip()[:1] in {"{", "["}


def local_size(target: Any) -> int | None:
    """Size in bytes of a local file target, None for anything else (one stat call)."""
    if not isinstance(target, (str, os.PathLike)):
        return None
    text = os.fspath(target)
    if not isinstance(text, str):
        return None
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        return None
    try:
        status = os.stat(text)
    except (OSError, ValueError):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


# --- lineage propagation -------------------------------------------------------------


# Each hook says, for one call, which object receives which sources; the
# shared wrapper runs the call, applies that, and guards it.
_Flow = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], tuple[Any, tuple[str, ...]]]


def _propagating(kind: str, flow: _Flow) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        try:
            target, ids = flow(result, instance, args, kwargs)
            if ids and target is not None and target is not NotImplemented:
                lineage.add_sources(target, ids)
        except Exception as exc:
            log_once(f"pandas.lineage.{kind}", exc)
        return result

    return wrapper


def _from_finalize_source(
    result: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[str, ...]]:
    """``__finalize__(other)``: other is the source frame, or has ``input_objs``."""
    other = args[0] if args else kwargs.get("other")
    ids = lineage.sources_of(other)
    if not ids and other is not None:
        objs = getattr(other, "input_objs", None)
        ids = lineage.union_of(objs) if objs is not None else ()
    return result, ids


def _from_both_operands(
    result: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[str, ...]]:
    return result, lineage.union_of((instance, args[0] if args else kwargs.get("other")))


def _into_target_frame(
    result: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[str, ...]]:
    """``df[key] = value``: the frame itself gains the value's sources."""
    return instance, lineage.sources_of(args[1]) if len(args) >= 2 else ()


def _from_every_argument(
    result: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[str, ...]]:
    return result, lineage.union_of((*args, *kwargs.values()))


def _from_grouped_frame(
    result: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[str, ...]]:
    return result, lineage.sources_of(getattr(instance, "obj", None))


_finalize_wrapper = _propagating("finalize", _from_finalize_source)
_binary_op_wrapper = _propagating("binary_op", _from_both_operands)
_setitem_wrapper = _propagating("setitem", _into_target_frame)
_reshape_wrapper = _propagating("reshape", _from_every_argument)
_groupby_wrapper = _propagating("groupby", _from_grouped_frame)
