"""DataFrame lineage: which datasets a pandas object was derived from.

A read marks its result with the dataset it came from (`record_source`). Every
object pandas derives from it inherits that mark, so a later write can put the
datasets its frame came from into ``dataops.inputs`` (`inputs_of`).

How the marks travel (installed by `PandasInstrumentor`, see `install`):

* ``NDFrame.__finalize__`` is pandas' own hook for propagating metadata: almost
  every operation (selection, filtering, ``copy``, ``rename``, ``drop``,
  ``fillna``, ``sort_values``, ``reset_index``, ``apply``, ``groupby`` results,
  ``pivot_table``, ``DataFrame.melt``, ``merge`` and ``concat`` through their
  ``input_objs``) calls it with the source object. We wrap it.
* Binary operations between frames/columns (``a["x"] * b["y"]``) finalize from
  the left operand only, so ``_arith_method``/``_cmp_method``/``_logical_method``
  are wrapped to add the right operand's marks.
* Column assignment (``df["x"] = other["y"]``, and ``assign``) adds the value's
  marks to the target frame through ``DataFrame.__setitem__``.
* Module functions (``pd.concat``, ``pd.merge``, ``pd.melt``, ``pd.pivot_table``,
  ``pd.merge_asof``, ``pd.crosstab``) give their result the union of the marks
  of every frame passed in.

We deliberately do not use ``DataFrame.attrs``: it is user-visible, and pandas
writes it into parquet metadata, which would leak our ids into files. Marks
live in a side table keyed by object identity and are dropped by a
weak-reference callback when the object dies, so no frame is kept alive.

Where it cannot see: values copied out of pandas (``.values``, ``.to_numpy()``,
``.tolist()``, ``to_dict()``) and frames rebuilt from them, Python loops that
build new frames from scalars, and objects that do not support weak references.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Iterable
from typing import Any, Final

MAX_SOURCES_PER_OBJECT: Final = 64
"""Upper bound on remembered inputs per object, so lineage memory stays bounded."""

_sources: dict[int, tuple[str, ...]] = {}
_watchers: dict[int, weakref.ref[Any]] = {}
_lock = threading.Lock()


def record_source(obj: Any, dataset_id: str) -> None:
    """Mark `obj` (a DataFrame or Series) as read from `dataset_id`."""
    key = id(obj)
    with _lock:  # a fresh frame from a reader is the common case: kept short
        if key not in _sources:
            try:
                _watchers[key] = weakref.ref(obj, functools.partial(_forget_ref, key))
            except TypeError:  # no weak references: cannot track safely
                return
            _sources[key] = (dataset_id,)
            return
    add_sources(obj, (dataset_id,))


def inputs_of(obj: Any) -> list[str]:
    """The datasets `obj` was derived from, in first-seen order."""
    return list(_sources.get(id(obj), ()))


def sources_of(obj: Any) -> tuple[str, ...]:
    return _sources.get(id(obj), ())


def add_sources(obj: Any, dataset_ids: Iterable[str]) -> None:
    """Add dataset ids to `obj`'s marks (union, first-seen order, bounded)."""
    new = tuple(dataset_ids)
    if not new:
        return
    key = id(obj)
    with _lock:
        current = _sources.get(key)
        if current is None:
            try:
                # A plain weakref with a callback is several times cheaper than
                # weakref.finalize, and pandas creates many short-lived frames.
                _watchers[key] = weakref.ref(obj, functools.partial(_forget_ref, key))
            except TypeError:  # no weak references: cannot track safely
                return
            current = ()
        merged = list(current)
        for dataset in new:
            if dataset not in merged and len(merged) < MAX_SOURCES_PER_OBJECT:
                merged.append(dataset)
        _sources[key] = tuple(merged)


def union_of(objects: Iterable[Any]) -> tuple[str, ...]:
    """Union of the marks of several objects (lists/tuples/dicts of frames included)."""
    merged: list[str] = []
    for obj in _flatten(objects):
        for dataset in _sources.get(id(obj), ()):
            if dataset not in merged:
                merged.append(dataset)
    return tuple(merged)


def tracked_count() -> int:
    """How many live objects carry marks (tests use it to prove nothing leaks)."""
    return len(_sources)


def _forget_ref(key: int, _ref: object) -> None:
    _forget(key)


def _forget(key: int) -> None:
    with _lock:
        _sources.pop(key, None)
        _watchers.pop(key, None)


def _flatten(objects: Iterable[Any]) -> Iterable[Any]:
    for obj in objects:
        if isinstance(obj, (list, tuple)):
            yield from obj
        elif isinstance(obj, dict):
            yield from obj.values()
        else:
            yield obj
