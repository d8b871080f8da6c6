"""`job()`: run root spans, run scoping of dataset spans, errors, reentrancy."""

from __future__ import annotations

import asyncio
import threading

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from dataops_otel import semconv
from dataops_otel.operation import dataset_operation
from dataops_otel.run import RunContext, current_run, job

TRACER = trace.get_tracer("tests.run")


def _by_name(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


def _read(dataset: str) -> None:
    with dataset_operation(TRACER, "test.read", semconv.OPERATION_READ, kind="test") as op:
        op.add_input(dataset)


def test_context_manager_opens_a_run_root_span(spans: InMemorySpanExporter) -> None:
    assert current_run() is None
    with job("orders-daily", team="data") as run:
        assert isinstance(run, RunContext)
        assert current_run() == run
        _read("file:///data/orders.csv")
    assert current_run() is None

    (root,) = _by_name(spans, "job orders-daily")
    assert root.attributes is not None
    assert dict(root.attributes) == {
        "team": "data",
        semconv.DATAOPS_JOB_NAME: "orders-daily",
        semconv.DATAOPS_RUN_ID: run.run_id,
        semconv.DATAOPS_RUN_ROOT: True,
    }
    assert root.status.status_code is StatusCode.OK
    assert len(run.run_id) == 32
    (child,) = _by_name(spans, "test.read")
    assert child.parent is not None and child.parent.span_id == root.context.span_id
    assert child.attributes is not None
    assert child.attributes[semconv.DATAOPS_JOB_NAME] == "orders-daily"
    assert child.attributes[semconv.DATAOPS_RUN_ID] == run.run_id
    assert semconv.DATAOPS_RUN_ROOT not in child.attributes


def test_decorator_gives_each_call_a_fresh_run(spans: InMemorySpanExporter) -> None:
    seen: list[RunContext | None] = []

    @job("nightly")
    def pipeline(x: int) -> int:
        seen.append(current_run())
        _read("file:///in.csv")
        return x * 2

    assert pipeline.__name__ == "pipeline"
    assert pipeline(2) == 4
    assert pipeline(3) == 6
    roots = _by_name(spans, "job nightly")
    assert len(roots) == 2
    run_ids = [r.attributes[semconv.DATAOPS_RUN_ID] for r in roots if r.attributes]
    assert len(set(run_ids)) == 2
    assert sorted(run_ids) == sorted(r.run_id for r in seen if r)
    reads = _by_name(spans, "test.read")
    assert sorted(s.attributes[semconv.DATAOPS_RUN_ID] for s in reads if s.attributes) == sorted(
        run_ids
    )


def test_exception_marks_error_and_reraises(spans: InMemorySpanExporter) -> None:
    class LoadError(RuntimeError):
        pass

    with pytest.raises(LoadError, match="disk full"), job("load"):
        raise LoadError("disk full")
    (root,) = _by_name(spans, "job load")
    assert root.status.status_code is StatusCode.ERROR
    assert root.status.description == "LoadError: disk full"
    assert root.attributes is not None
    assert root.attributes[semconv.ERROR_TYPE].endswith("LoadError")
    assert [e.name for e in root.events] == ["exception"]
    assert current_run() is None


def test_decorator_exception_reraises_same_object(spans: InMemorySpanExporter) -> None:
    error = ValueError("bad row")

    @job("validate")
    def step() -> None:
        raise error

    with pytest.raises(ValueError) as info:
        step()
    assert info.value is error
    (root,) = _by_name(spans, "job validate")
    assert root.status.status_code is StatusCode.ERROR
    assert root.attributes is not None
    assert root.attributes[semconv.ERROR_TYPE] == "ValueError"


def test_clean_system_exit_is_success(spans: InMemorySpanExporter) -> None:
    with pytest.raises(SystemExit), job("exits"):
        raise SystemExit(0)
    with pytest.raises(SystemExit), job("fails"):
        raise SystemExit(3)
    assert _by_name(spans, "job exits")[0].status.status_code is StatusCode.OK
    assert _by_name(spans, "job fails")[0].status.status_code is StatusCode.ERROR


def test_nested_jobs_scope_the_innermost(spans: InMemorySpanExporter) -> None:
    with job("outer") as outer:
        _read("file:///a")
        with job("inner") as inner:
            assert current_run() == inner
            _read("file:///b")
        assert current_run() == outer
        _read("file:///c")
    reads = {
        s.attributes[semconv.DATAOPS_INPUTS][0]: s.attributes[semconv.DATAOPS_JOB_NAME]
        for s in _by_name(spans, "test.read")
        if s.attributes
    }
    assert reads == {"file:///a": "outer", "file:///b": "inner", "file:///c": "outer"}
    (inner_root,) = _by_name(spans, "job inner")
    (outer_root,) = _by_name(spans, "job outer")
    assert inner_root.parent is not None
    assert inner_root.parent.span_id == outer_root.context.span_id
    assert outer.run_id != inner.run_id


def test_one_job_object_entered_twice_nested(spans: InMemorySpanExporter) -> None:
    step = job("recursive")
    with step as first:
        with step as second:
            assert current_run() == second
        assert current_run() == first
    assert current_run() is None
    roots = _by_name(spans, "job recursive")
    assert len(roots) == 2
    assert all(r.status.status_code is StatusCode.OK for r in roots)
    assert first.run_id != second.run_id


def test_one_job_object_used_by_threads_at_once(spans: InMemorySpanExporter) -> None:
    shared = job("parallel")
    inside = threading.Barrier(4)
    results: dict[int, tuple[str, str]] = {}

    def worker(index: int) -> None:
        with shared as run:
            inside.wait(timeout=30)  # all four runs are open at the same time
            current = current_run()
            assert current is not None
            results[index] = (run.run_id, current.run_id)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 4
    assert all(own == seen for own, seen in results.values())
    assert len({own for own, _ in results.values()}) == 4
    roots = _by_name(spans, "job parallel")
    assert len(roots) == 4
    assert all(r.status.status_code is StatusCode.OK for r in roots)


def test_async_job_and_async_context_manager(spans: InMemorySpanExporter) -> None:
    @job("async-pipeline")
    async def pipeline() -> str:
        await asyncio.sleep(0)
        run = current_run()
        assert run is not None
        return run.job_name

    async def main() -> list[str]:
        async with job("async-block"):
            first = await pipeline()
        return [first, *await asyncio.gather(pipeline(), pipeline())]

    assert asyncio.run(main()) == ["async-pipeline"] * 3
    assert len(_by_name(spans, "job async-pipeline")) == 3
    assert len(_by_name(spans, "job async-block")) == 1


def test_exit_without_enter_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="without a matching entry"):
        job("never").__exit__(None, None, None)


@pytest.mark.parametrize("name", ["", "  "])
def test_job_needs_a_name(name: str) -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        job(name)


def test_attributes_cannot_override_the_run_identity(spans: InMemorySpanExporter) -> None:
    with job("x", **{semconv.DATAOPS_RUN_ID: "forged"}) as run:
        pass
    (root,) = _by_name(spans, "job x")
    assert root.attributes is not None
    assert root.attributes[semconv.DATAOPS_RUN_ID] == run.run_id != "forged"


def test_unprintable_exception_still_fails_the_run(spans: InMemorySpanExporter) -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    with pytest.raises(Weird), job("weird"):
        raise Weird()
    (root,) = _by_name(spans, "job weird")
    assert root.status.status_code is StatusCode.ERROR
    assert root.status.description == "Weird: <unprintable>"
