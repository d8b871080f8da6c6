"""Dataset identity: turn paths, URLs and database tables into dataset ids.

A dataset is ``namespace`` + ``name`` after the OpenLineage naming spec; its id
is ``{namespace}://{name}`` when the namespace is a bare scheme (``file``,
``sqlite``) and ``{namespace}/{name}`` otherwise (``s3://bucket/key``,
``postgres://host:5432/db.public.orders``). Credentials never appear; defaults
(ports, schema ``public``) are filled in so one table always has one id.
"""

from __future__ import annotations

import os
from typing import Any


def dataset_id(namespace: str, name: str) -> str:
    """Join a namespace and a name into a dataset id without doubling slashes."""
    raise NotImplementedError


def split_dataset_id(dataset: str) -> tuple[str, str]:
    """Inverse of `dataset_id`: ``(namespace, name)``."""
    raise NotImplementedError


def dataset_id_for_path(path: str | os.PathLike[str]) -> str:
    """Id of a local path or a storage URL (file, s3/s3a/s3n, gs, abfss/abfs, hdfs)."""
    raise NotImplementedError


def dataset_id_for_sqlalchemy(url: Any, table: str, schema: str | None = None) -> str:
    """Id of a table reached through a SQLAlchemy URL (``str`` or ``sqlalchemy.URL``)."""
    raise NotImplementedError
