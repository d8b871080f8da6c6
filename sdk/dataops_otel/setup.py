"""`init()` / `shutdown()`: tracing set up for a pipeline in one call.

``dataops_otel.init(service_name="orders-etl")`` at the top of a script gives
what ``opentelemetry-instrument`` gives, without a launcher: a TracerProvider
with a batching OTLP exporter and our instrumentors switched on. The standard
``OTEL_*`` variables work as in any OTel SDK; an explicit argument beats its
variable:

==========================  ==========================================================
argument                    environment fallback
==========================  ==========================================================
``service_name``            ``OTEL_SERVICE_NAME``, ``service.name`` in
                            ``OTEL_RESOURCE_ATTRIBUTES``
``resource_attributes``     ``OTEL_RESOURCE_ATTRIBUTES`` (merged; arguments win per key)
``endpoint``                ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
                            ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default localhost:4317)
(none)                      ``OTEL_SDK_DISABLED=true``: init does nothing;
                            ``OTEL_BSP_*``: batching; ``OTEL_EXPORTER_OTLP_PROTOCOL``:
                            ``grpc`` (default) or ``http/protobuf``;
                            ``OTEL_TRACES_EXPORTER=none``: no exporter
==========================  ==========================================================

An application that already configured an SDK TracerProvider keeps it: init
never replaces it. Spans then go wherever that provider sends them; init adds
its own OTLP exporter to it only when ``endpoint`` is passed explicitly (so a
provider that ``opentelemetry-instrument`` configured does not export twice).
The resource of such a provider is the application's: it carries
``dataops.semconv.version`` only if the application put it there.

The exporter runs in the background with a bounded queue (the SDK's
`BatchSpanProcessor`); a collector that is down costs the pipeline nothing but
the lost telemetry, and `shutdown` waits no longer than its timeout. gRPC is
imported inside `init`, so ``import dataops_otel`` stays light.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.util.types import AttributeValue

from dataops_otel import semconv
from dataops_otel.guard import guarded, log_once

_logger = logging.getLogger(__name__)

ALL: Final = "all"
"""``instrument=ALL``: every instrumentor whose library is importable."""

INSTRUMENTORS: Final[Mapping[str, tuple[str, str, str]]] = {
    # name: (library module, instrumentor module, instrumentor class)
    "pandas": ("pandas", "dataops_otel.instrumentation.pandas", "PandasInstrumentor"),
    "sqlalchemy": (
        "sqlalchemy",
        "dataops_otel.instrumentation.sqlalchemy",
        "SQLAlchemyInstrumentor",
    ),
    "spark": ("pyspark", "dataops_otel.instrumentation.spark", "SparkInstrumentor"),
}

_TRUE = {"true", "1", "yes", "on"}


@dataclass
class _Setup:
    """What `init` changed, so that `shutdown` undoes exactly that."""

    provider: trace.TracerProvider
    owns_provider: bool
    processor: SpanProcessor | None = None
    exporter: SpanExporter | None = None
    instrumentors: list[Any] = field(default_factory=list)


_lock = threading.Lock()
_setup: _Setup | None = None


def init(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
    instrument: str | Iterable[str] | None = ALL,
    resource_attributes: Mapping[str, AttributeValue] | None = None,
) -> trace.TracerProvider:
    """Set up tracing for this process and switch the instrumentors on.

    `instrument` names instrumentors (``"pandas"``, ``"sqlalchemy"``,
    ``"spark"``), ``ALL`` (default: those whose library is importable) or
    ``None``/``()`` for none. Returns the TracerProvider in use. A second call
    warns and changes nothing. Raises ``ValueError`` only for an unknown
    instrumentor name; every other failure is logged and leaves the pipeline
    running.
    """
    global _setup
    names = _instrumentor_names(instrument)
    with _lock:
        if _setup is not None:
            _logger.warning("dataops_otel.init() was already called; this call changes nothing")
            return _setup.provider
        if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
            _logger.info("OTEL_SDK_DISABLED is set: dataops_otel.init() does nothing")
            return trace.get_tracer_provider()
        setup = _configure_provider(service_name, endpoint, resource_attributes)
        setup.instrumentors = _instrument(names, setup.provider, explicit=instrument != ALL)
        _setup = setup
        return setup.provider


def shutdown(*, timeout_s: float = 10.0) -> bool:
    """Uninstrument what `init` instrumented, flush the spans, stop exporting.

    Waits at most `timeout_s` for the export; returns whether everything was
    flushed in time. Does nothing (and returns True) when `init` did not run.
    """
    global _setup
    with _lock:
        setup, _setup = _setup, None
    if setup is None:
        return True
    for instrumentor in reversed(setup.instrumentors):
        with guarded("setup.uninstrument"):
            instrumentor.uninstrument()
    if setup.owns_provider and isinstance(setup.provider, TracerProvider):
        return _bounded(setup.provider.shutdown, setup.exporter, timeout_s)
    if setup.processor is not None:
        return _bounded(setup.processor.shutdown, setup.exporter, timeout_s)
    return True


def _configure_provider(
    service_name: str | None,
    endpoint: str | None,
    resource_attributes: Mapping[str, AttributeValue] | None,
) -> _Setup:
    existing = trace.get_tracer_provider()
    if not isinstance(existing, trace.ProxyTracerProvider):
        return _use_existing(existing, endpoint)
    provider = TracerProvider(resource=_resource(service_name, resource_attributes))
    setup = _Setup(provider=provider, owns_provider=True)
    _attach_exporter(setup, provider, endpoint)
    trace.set_tracer_provider(provider)
    if trace.get_tracer_provider() is not provider:  # another thread set one first
        provider.shutdown()
        return _use_existing(trace.get_tracer_provider(), endpoint)
    return setup


def _use_existing(provider: trace.TracerProvider, endpoint: str | None) -> _Setup:
    """Keep the application's provider; add our exporter only if asked explicitly."""
    setup = _Setup(provider=provider, owns_provider=False)
    if endpoint is not None and isinstance(provider, TracerProvider):
        _attach_exporter(setup, provider, endpoint)
        _logger.info("dataops_otel.init(): exporting to %s from the existing provider", endpoint)
    else:
        _logger.info("dataops_otel.init(): using the TracerProvider the application configured")
    return setup


def _resource(service_name: str | None, extra: Mapping[str, AttributeValue] | None) -> Resource:
    attributes: dict[str, AttributeValue] = dict(extra or {})
    if service_name:
        attributes[SERVICE_NAME] = service_name
    attributes[semconv.DATAOPS_SEMCONV_VERSION] = semconv.SEMCONV_VERSION
    return Resource.create(attributes)


def _attach_exporter(setup: _Setup, provider: TracerProvider, endpoint: str | None) -> None:
    exporters = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporters == "none":
        return
    with guarded("setup.exporter"):
        setup.exporter = _otlp_exporter(endpoint)
        setup.processor = BatchSpanProcessor(setup.exporter)
        provider.add_span_processor(setup.processor)


def _otlp_exporter(endpoint: str | None) -> SpanExporter:
    """The OTLP span exporter for the configured protocol, imported only now."""
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    ).strip()
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter(endpoint=endpoint)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint)


def _instrumentor_names(instrument: str | Iterable[str] | None) -> list[str]:
    if instrument is None:
        return []
    if instrument == ALL:
        return [n for n, (lib, _, _) in INSTRUMENTORS.items() if _importable(lib)]
    names = [instrument] if isinstance(instrument, str) else list(instrument)
    unknown = sorted(set(names) - set(INSTRUMENTORS))
    if unknown:
        raise ValueError(
            f"unknown instrumentor(s) {unknown}; choose from {sorted(INSTRUMENTORS)} or ALL"
        )
    return list(dict.fromkeys(names))


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _instrument(names: list[str], provider: trace.TracerProvider, *, explicit: bool) -> list[Any]:
    """Instrument each named library; return the instrumentors this call switched on."""
    done: list[Any] = []
    for name in names:
        library, module_name, class_name = INSTRUMENTORS[name]
        if explicit and not _importable(library):
            _logger.warning("dataops_otel.init(): %r is not installed; not instrumented", library)
            continue
        if not _importable(module_name):
            # An instrumentor this version does not ship yet (Spark: issue 6).
            log = _logger.warning if explicit else _logger.debug
            log("dataops_otel.init(): no %s instrumentor in this version", name)
            continue
        try:
            instrumentor = getattr(importlib.import_module(module_name), class_name)()
            if instrumentor.is_instrumented_by_opentelemetry:
                continue  # someone else (opentelemetry-instrument) did; leave it to them
            instrumentor.instrument(tracer_provider=provider)
        except Exception as exc:
            log_once(f"setup.instrument.{name}", exc)
            continue
        if instrumentor.is_instrumented_by_opentelemetry:
            done.append(instrumentor)
    return done


def _bounded(stop: Callable[[], object], exporter: SpanExporter | None, timeout_s: float) -> bool:
    """Run `stop` (a flush-and-shutdown) for at most `timeout_s`.

    The SDK's shutdown can wait for an exporter that retries against a down
    collector; past the timeout the exporter is shut down, which interrupts its
    retry wait, and the remaining spans are dropped.
    """
    worker = threading.Thread(target=stop, name="dataops-otel-shutdown", daemon=True)
    worker.start()
    worker.join(max(0.0, timeout_s))
    if not worker.is_alive():
        return True
    if exporter is not None:
        with guarded("setup.exporter_shutdown"):
            exporter.shutdown()
    worker.join(1.0)
    _logger.warning(
        "dataops_otel.shutdown(): spans not exported within %.1f s were dropped", timeout_s
    )
    return False
