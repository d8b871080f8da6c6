"""Dataset identity: turn paths, URLs and database tables into dataset ids.

Lineage only joins up if the same dataset always gets the same id, whichever
library touched it (pandas writes a file that Spark reads; SQLAlchemy writes a
table that Spark reads over JDBC). This module is the single place that makes
ids, so every instrumentor agrees.

A dataset is ``namespace`` + ``name`` after the OpenLineage naming spec; its id
is ``{namespace}://{name}`` when the namespace is a bare scheme (``file``,
``sqlite``) and ``{namespace}/{name}`` otherwise (``s3://bucket/key``,
``postgres://host:5432/db.public.orders``), never with a doubled slash.
Credentials, query strings and fragments never appear; defaults (ports, schema
``public``) are filled in. The full rule table is in
``docs/semantic-conventions.md``; the collector's SQL splits ids with the same
rule as `split_dataset_id`.

Nothing here touches the network or the file system beyond ``os.getcwd()`` (to
make relative paths absolute), and nothing imports SQLAlchemy: a SQLAlchemy
``URL`` object is read through its attributes.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

BARE_SCHEMES: frozenset[str] = frozenset({"file", "sqlite"})
"""Namespaces that are a scheme alone; their ids are ``{scheme}://{name}``."""

_SCHEME_ALIASES = {"s3a": "s3", "s3n": "s3", "gcs": "gs", "abfs": "abfss"}
_DEFAULT_PORTS = {"hdfs": 8020, "postgres": 5432, "mysql": 3306}
_DB_SYSTEMS = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "pgsql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_SA_URL_RE = re.compile(
    r"""^(?P<driver>[\w+.\-]+)://
    (?:(?P<user>[^:/?#@]*)(?::[^@]*)?@)?
    (?:\[(?P<ipv6>[^\]]+)\]|(?P<host>[^/:?#]*))?
    (?::(?P<port>\d*))?
    (?:/(?P<database>[^?#]*))?
    (?:[?#].*)?$""",
    re.VERBOSE | re.DOTALL,
)


def dataset_id(namespace: str, name: str) -> str:
    """Join a namespace and a name into a dataset id without doubling slashes.

    >>> dataset_id("file", "/data/orders.csv")
    'file:///data/orders.csv'
    >>> dataset_id("s3://bucket", "/raw/orders.csv")
    's3://bucket/raw/orders.csv'
    """
    if not namespace:
        raise ValueError("a dataset namespace must not be empty")
    bare = namespace[:-3] if namespace.endswith("://") else namespace
    if "://" not in bare and "/" not in bare:
        return f"{bare}://{name}"
    if not name.strip("/"):
        return namespace.rstrip("/")
    return f"{namespace.rstrip('/')}/{name.lstrip('/')}"


def split_dataset_id(dataset: str) -> tuple[str, str]:
    """Inverse of `dataset_id`: ``(namespace, name)``.

    ``scheme://rest`` splits as ``(scheme, rest)`` when the scheme is a bare
    namespace (``file``, ``sqlite``) or ``rest`` starts with ``/``; otherwise the
    namespace is ``scheme://authority`` and the name what follows the next ``/``.
    """
    scheme, sep, rest = dataset.partition("://")
    if not sep or not scheme:
        raise ValueError(f"not a dataset id (no 'scheme://'): {dataset!r}")
    if scheme in BARE_SCHEMES or rest.startswith("/"):
        return scheme, rest
    authority, _, name = rest.partition("/")
    return f"{scheme}://{authority}", name


def dataset_id_for_path(path: str | os.PathLike[str]) -> str:
    """Id of a local path or a storage URL (file, s3/s3a/s3n, gs, abfss/abfs, hdfs).

    Local paths are made absolute and normalised (``~`` expanded, ``..``
    resolved, trailing slash dropped; symlinks are not resolved).
    """
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"dataset paths must be text, not {type(text).__name__}")
    if not text:
        raise ValueError("an empty path is not a dataset")
    if _url_scheme(text) is not None:
        return dataset_id_for_url(text)
    return dataset_id("file", _local_path(text))


def dataset_id_for_url(url: str) -> str:
    """Id of a storage URL: ``file:``, ``s3://``, ``gs://``, ``abfss://``, ``hdfs://``, ...

    Unknown schemes keep ``scheme://host[:port]`` as namespace and the path as
    name. Credentials, query strings (tokens, SAS) and fragments are dropped.
    """
    scheme = _url_scheme(url)
    if scheme is None:
        raise ValueError(f"not a URL (no scheme): {url!r}")
    scheme = _SCHEME_ALIASES.get(scheme, scheme)
    if scheme == "file":
        return dataset_id("file", _local_path(unquote(urlsplit(url).path) or "/"))
    parts = urlsplit(url)
    host, port = _host_and_port(parts.netloc)
    if scheme == "abfss":
        container = parts.netloc.rpartition("@")[0].partition(":")[0]
        authority = f"{container}@{host}" if container else host
    else:
        if scheme in _DEFAULT_PORTS and port is None and host:
            port = _DEFAULT_PORTS[scheme]
        authority = _authority(host, port)
    if not authority:
        raise ValueError(f"{scheme} URL without a host or bucket: {_redact(url)!r}")
    key = _normalise_key(parts.path)
    return dataset_id(f"{scheme}://{authority}", key)


def dataset_id_for_sqlalchemy(
    url: Any, table: str, schema: str | None = None, *, database: str | None = None
) -> str:
    """Id of a table reached through a SQLAlchemy URL (``str`` or ``sqlalchemy.URL``).

    `table` is one unqualified name (kept exactly as given: callers pass names
    normalised the way the database does). `schema` defaults to ``public`` on
    PostgreSQL; on MySQL/MariaDB a schema *is* a database, so it replaces the
    URL's database. `database` overrides the URL's database (a catalog-qualified
    reference). The driver part of the URL (``+psycopg``) never changes the id.
    """
    location = _location_from_sqlalchemy(url)
    if database:
        location = _replace_database(location, database)
    return _db_dataset_id(location, table, schema)


def dataset_id_for_jdbc(jdbc_url: str, table: str) -> str:
    """Id of a JDBC table (``jdbc:postgresql://h:p/db``, ``jdbc:mysql://``,
    ``jdbc:mariadb://``, ``jdbc:sqlite:/path``), equal to the SQLAlchemy id.

    `table` is Spark's ``dbtable``: ``orders``, ``schema.orders`` (PostgreSQL)
    or ``db.orders`` (MySQL); double quotes and backticks are removed.
    """
    if not jdbc_url.lower().startswith("jdbc:"):
        raise ValueError(f"not a JDBC URL: {_redact(jdbc_url)!r}")
    rest = jdbc_url[5:]
    system = _DB_SYSTEMS.get(rest.partition(":")[0].lower())
    if system == "sqlite":
        location = _sqlite_location(rest.partition(":")[2].partition("?")[0])
    else:
        if "://" not in rest:  # jdbc:postgresql:db means localhost
            scheme, _, db = rest.partition(":")
            rest = f"{scheme}://localhost/{db}"
        # MySQL allows several hosts (failover); the first one names the server.
        rest = re.sub(r"^([^/]*//[^/,?]*),[^/?]*", r"\1", rest)
        location = _location_from_sqlalchemy(rest.split(";", 1)[0])
    parts = _split_identifier(table)
    name, schema = parts[-1], (parts[-2] if len(parts) > 1 else None)
    if len(parts) > 2:
        location = _replace_database(location, parts[-3])
    return _db_dataset_id(location, name, schema)


@dataclass(frozen=True)
class _DbLocation:
    """Where a database lives: system, server and database (no credentials)."""

    system: str
    host: str = ""
    port: int | None = None
    database: str = ""
    user: str = ""


def _db_dataset_id(location: _DbLocation, table: str, schema: str | None) -> str:
    if not table:
        raise ValueError("a table name must not be empty")
    if location.system == "sqlite":
        qualifier = f"{schema}." if schema and schema not in {"main", "temp"} else ""
        return dataset_id("sqlite", f"{location.database}.{qualifier}{table}")
    namespace = f"{location.system}://{_authority(location.host or 'localhost', location.port)}"
    if location.system == "postgres":
        database = location.database or location.user or "postgres"
        return dataset_id(namespace, f"{database}.{schema or 'public'}.{table}")
    if location.system == "mysql":
        database = schema or location.database
        if not database:
            raise ValueError(f"no database for MySQL table {table!r}: the URL names none")
        return dataset_id(namespace, f"{database}.{table}")
    parts = [p for p in (location.database, schema, table) if p]
    return dataset_id(namespace, ".".join(parts))


def _location_from_sqlalchemy(url: Any) -> _DbLocation:
    if isinstance(url, str):
        match = _SA_URL_RE.match(url.strip())
        if match is None:
            raise ValueError(f"not a database URL: {_redact(url)!r}")
        driver, host = match["driver"], match["ipv6"] or match["host"] or ""
        port_text, database = match["port"], match["database"]
        port = int(port_text) if port_text else None
        user = unquote(match["user"] or "")
    else:  # a sqlalchemy.engine.URL, read by attribute so we never import SQLAlchemy
        driver, host = str(url.drivername), str(url.host or "")
        port, database, user = url.port, url.database, str(url.username or "")
    dialect = driver.split("+", 1)[0].lower()
    system = _DB_SYSTEMS.get(dialect, dialect)
    if system == "sqlite":
        return _sqlite_location(database or "")
    return _DbLocation(
        system=system,
        host=host,
        port=port if port is not None else _DEFAULT_PORTS.get(system),
        database=database or "",
        user=user,
    )


def _sqlite_location(database: str) -> _DbLocation:
    """SQLite: the absolute database file, or ``memory`` for an in-memory database."""
    if database.startswith("file:"):  # URI filename (``?uri=true``)
        database = unquote(urlsplit(database).path)
    if database in {"", ":memory:"} or database.startswith(":memory:"):
        return _DbLocation(system="sqlite", database="memory")
    return _DbLocation(system="sqlite", database=_local_path(database))


def _replace_database(location: _DbLocation, database: str) -> _DbLocation:
    return _DbLocation(location.system, location.host, location.port, database, location.user)


def _split_identifier(text: str) -> list[str]:
    """Split ``a."b.c".d`` on dots outside quotes and drop the quotes."""
    parts = re.findall(r'"((?:[^"]|"")*)"|`((?:[^`]|``)*)`|\[([^\]]*)\]|([^."`\[]+)', text.strip())
    names = [next(p for p in groups if p) for groups in parts if any(groups)]
    if not names:
        raise ValueError(f"not a table name: {text!r}")
    return [n.replace('""', '"').replace("``", "`") for n in names]


def _url_scheme(text: str) -> str | None:
    """The lower-case scheme of `text`, or None for a path (``C:\\x`` is a path)."""
    match = _SCHEME_RE.match(text)
    if match is None or len(match.group(1)) == 1:
        return None
    return match.group(1).lower()


def _local_path(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _normalise_key(path: str) -> str:
    """An object key or remote path without leading/trailing or doubled slashes."""
    if not path.strip("/"):
        return ""
    return posixpath.normpath("/" + path).lstrip("/")


def _host_and_port(netloc: str) -> tuple[str, int | None]:
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        host, _, tail = hostport[1:].partition("]")
        port_text = tail.lstrip(":")
    else:
        host, _, port_text = hostport.partition(":")
    return host, int(port_text) if port_text.isdigit() else None


def _authority(host: str, port: int | None) -> str:
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{host}:{port}" if port is not None else host


def _redact(url: str) -> str:
    """`url` for an error message, without credentials or query string."""
    return re.sub(r"//[^/@]*@", "//***@", url.split("?", 1)[0])
