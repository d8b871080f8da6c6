"""`init()` / `shutdown()` against a real OTLP/gRPC server.

The global TracerProvider of the test process is taken by conftest, so every
scenario runs `init()` in a fresh interpreter. The receiving end is a real
grpc server implementing the OTLP TraceService; spans are exported before
`shutdown()` returns, so the server has them when the subprocess has exited.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

import dataops_otel
from dataops_otel import semconv


@dataclass
class ReceivedSpan:
    name: str
    attributes: dict[str, Any]
    resource: dict[str, Any]


@dataclass
class OtlpReceiver(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    """A minimal, real OTLP trace receiver that keeps what it is sent."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def Export(self, request: Any, context: Any) -> Any:
        with self.lock:
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            ReceivedSpan(span.name, _attributes(span.attributes), resource)
                        )
        return trace_service_pb2.ExportTraceServiceResponse()


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


@pytest.fixture
def receiver() -> Iterator[tuple[OtlpReceiver, str]]:
    servicer = OtlpReceiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield servicer, f"http://127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def _closed_port_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


PIPELINE = """
import dataops_otel
with dataops_otel.job("orders-daily"):
    dataops_otel.record("write", outputs=["/data/orders.parquet"], rows=3, format="parquet")
"""


def _run(code: str, tmp_path: Path, timeout_s: float = 120, **env: str) -> dict[str, Any]:
    """Run `code` in a fresh interpreter; it prints one JSON object last."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    script = tmp_path / "scenario.py"
    script.write_text(textwrap.dedent(code))
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["stderr"] = done.stderr
    return result


def test_spans_leave_through_otlp_grpc_with_resource(
    receiver: tuple[OtlpReceiver, str], tmp_path: Path
) -> None:
    servicer, endpoint = receiver
    code = f"""
    import json, dataops_otel
    provider = dataops_otel.init(
        service_name="orders-etl",
        endpoint={endpoint!r},
        instrument=None,
        resource_attributes={{"team": "from-argument"}},
    )
    again = dataops_otel.init(service_name="ignored", endpoint={endpoint!r})
    {PIPELINE.strip().replace(chr(10), chr(10) + "    ")}
    flushed = dataops_otel.shutdown(timeout_s=30)
    print(json.dumps({{"same": provider is again, "flushed": flushed}}))
    """
    result = _run(
        code,
        tmp_path,
        OTEL_SERVICE_NAME="from-env",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment=ci,team=from-env",
    )
    assert result["same"] is True and result["flushed"] is True
    assert "already called" in result["stderr"]
    assert sorted(s.name for s in servicer.spans) == ["dataops.write", "job orders-daily"]
    resource = servicer.spans[0].resource
    assert resource[semconv.SERVICE_NAME] == "orders-etl"
    assert resource[semconv.DATAOPS_SEMCONV_VERSION] == semconv.SEMCONV_VERSION
    assert resource["deployment.environment"] == "ci"
    assert resource["team"] == "from-argument"
    write = next(s for s in servicer.spans if s.name == "dataops.write")
    root = next(s for s in servicer.spans if s.name == "job orders-daily")
    assert write.attributes[semconv.DATAOPS_OUTPUTS] == ["file:///data/orders.parquet"]
    assert write.attributes[semconv.DATAOPS_DATASET_ROWS] == 3
    assert write.attributes[semconv.DATAOPS_RUN_ID] == root.attributes[semconv.DATAOPS_RUN_ID]
    assert root.attributes[semconv.DATAOPS_RUN_ROOT] is True


def test_environment_configures_everything(
    receiver: tuple[OtlpReceiver, str], tmp_path: Path
) -> None:
    servicer, endpoint = receiver
    code = f"""
    import json, dataops_otel
    dataops_otel.init()  # every instrumentor whose library is installed
    {PIPELINE.strip().replace(chr(10), chr(10) + "    ")}
    print(json.dumps({{"flushed": dataops_otel.shutdown()}}))
    """
    result = _run(
        code,
        tmp_path,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint,
        OTEL_SERVICE_NAME="env-service",
        OTEL_RESOURCE_ATTRIBUTES="service.namespace=data",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="1",
    )
    assert result["flushed"] is True
    assert sorted(s.name for s in servicer.spans) == ["dataops.write", "job orders-daily"]
    resource = servicer.spans[0].resource
    assert resource[semconv.SERVICE_NAME] == "env-service"
    assert resource["service.namespace"] == "data"
    assert resource[semconv.DATAOPS_SEMCONV_VERSION] == semconv.SEMCONV_VERSION


def test_sdk_disabled_sends_nothing_and_breaks_nothing(
    receiver: tuple[OtlpReceiver, str], tmp_path: Path
) -> None:
    servicer, endpoint = receiver
    code = f"""
    import json, dataops_otel
    provider = dataops_otel.init(service_name="x", endpoint={endpoint!r})
    {PIPELINE.strip().replace(chr(10), chr(10) + "    ")}
    print(json.dumps({{"provider": type(provider).__name__,
                       "flushed": dataops_otel.shutdown()}}))
    """
    result = _run(code, tmp_path, OTEL_SDK_DISABLED="true")
    assert result == {**result, "provider": "ProxyTracerProvider", "flushed": True}
    assert servicer.spans == []


EXISTING_PROVIDER = """
import json, dataops_otel
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
memory = InMemorySpanExporter()
app_provider = TracerProvider(resource=Resource.create({"service.name": "app-configured"}))
app_provider.add_span_processor(SimpleSpanProcessor(memory))
trace.set_tracer_provider(app_provider)
"""


@pytest.mark.parametrize("explicit_endpoint", [False, True])
def test_existing_provider_is_kept(
    receiver: tuple[OtlpReceiver, str], tmp_path: Path, explicit_endpoint: bool
) -> None:
    servicer, endpoint = receiver
    init_args = f"endpoint={endpoint!r}, " if explicit_endpoint else ""
    code = f"""
    {EXISTING_PROVIDER.strip().replace(chr(10), chr(10) + "    ")}
    provider = dataops_otel.init({init_args}service_name="ignored", instrument=None)
    {PIPELINE.strip().replace(chr(10), chr(10) + "    ")}
    flushed = dataops_otel.shutdown(timeout_s=30)
    print(json.dumps({{
        "kept": provider is app_provider and trace.get_tracer_provider() is app_provider,
        "in_memory": sorted(s.name for s in memory.get_finished_spans()),
        "flushed": flushed,
    }}))
    """
    result = _run(code, tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    assert result["kept"] is True and result["flushed"] is True
    assert result["in_memory"] == ["dataops.write", "job orders-daily"]
    if explicit_endpoint:  # our exporter was added to the application's provider
        assert sorted(s.name for s in servicer.spans) == ["dataops.write", "job orders-daily"]
        assert servicer.spans[0].resource[semconv.SERVICE_NAME] == "app-configured"
    else:  # the application's provider decides where spans go: not to us
        assert servicer.spans == []


def test_down_collector_costs_only_the_telemetry(tmp_path: Path) -> None:
    # The exporter would retry for 120 s; shutdown must give up after its 1 s
    # timeout, so the subprocess finishing before its own 90 s limit proves it.
    code = f"""
    import json, dataops_otel
    dataops_otel.init(service_name="x", endpoint={_closed_port_endpoint()!r}, instrument=None)
    {PIPELINE.strip().replace(chr(10), chr(10) + "    ")}
    print("pipeline finished", flush=True)
    print(json.dumps({{"flushed": dataops_otel.shutdown(timeout_s=1.0)}}))
    """
    result = _run(code, tmp_path, timeout_s=90, OTEL_EXPORTER_OTLP_TIMEOUT="120")
    assert result["flushed"] is False
    assert "dropped" in result["stderr"]


FAKE_INSTRUMENTORS = """
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

calls = []


class _Recorder:
    # BaseInstrumentor is a singleton per class *inherited by subclasses*, so every
    # fake below derives from BaseInstrumentor directly and shares only this mixin.
    def instrumentation_dependencies(self):
        return []

    def _instrument(self, **kwargs):
        provider = type(kwargs.get("tracer_provider")).__name__
        calls.append(["instrument", type(self).__name__, provider])

    def _uninstrument(self, **kwargs):
        calls.append(["uninstrument", type(self).__name__])


class FakeInstrumentor(_Recorder, BaseInstrumentor):
    pass


class PreInstrumented(_Recorder, BaseInstrumentor):
    pass


class BrokenInstrumentor(_Recorder, BaseInstrumentor):
    def _instrument(self, **kwargs):
        raise RuntimeError("instrumentor bug")
"""


def test_instrumentor_selection_and_failures(tmp_path: Path) -> None:
    (tmp_path / "fake_instrumentors.py").write_text(FAKE_INSTRUMENTORS)
    code = """
    import json, dataops_otel, dataops_otel.setup as setup
    from dataops_otel import guard
    import fake_instrumentors as fake
    setup.INSTRUMENTORS = {
        "fake": ("json", "fake_instrumentors", "FakeInstrumentor"),
        "pre": ("json", "fake_instrumentors", "PreInstrumented"),
        "broken": ("json", "fake_instrumentors", "BrokenInstrumentor"),
        "unimportable": ("json", "no_such_module_for_dataops_tests", "X"),
        "missing": ("no_such_library_for_dataops_tests", "fake_instrumentors", "X"),
    }
    fake.PreInstrumented().instrument()  # as opentelemetry-instrument would have
    fake.calls.clear()
    dataops_otel.init(service_name="x")
    after_init = list(fake.calls)
    dataops_otel.shutdown()
    print(json.dumps({
        "after_init": after_init,
        "after_shutdown": fake.calls[len(after_init):],
        "pre_still_on": fake.PreInstrumented().is_instrumented_by_opentelemetry,
        "failures": sorted(guard.failure_counts),
    }))
    """
    result = _run(code, tmp_path, OTEL_TRACES_EXPORTER="none", PYTHONPATH=str(tmp_path))
    assert result["after_init"] == [["instrument", "FakeInstrumentor", "TracerProvider"]]
    assert result["after_shutdown"] == [["uninstrument", "FakeInstrumentor"]]
    assert result["pre_still_on"] is True
    # An instrumentor module that this version does not ship is skipped with a
    # warning, not counted as a failure; one that raises is a logged failure.
    assert result["failures"] == ["setup.instrument.broken"]


def test_unknown_instrumentor_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown instrumentor\(s\) \['pandsa'\]"):
        dataops_otel.init(instrument=["pandsa"])
    assert dataops_otel.shutdown() is True  # nothing was set up
