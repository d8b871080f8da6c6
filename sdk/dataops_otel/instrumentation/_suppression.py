"""Whether OpenTelemetry instrumentation is suppressed in a context, in one lookup.

``opentelemetry.instrumentation.utils.is_instrumentation_enabled()`` looks the
current context up twice; hot paths (a statement, a tiny ``read_csv``) that
already hold the context, or look it up once, ask here. The keys are the
OpenTelemetry packages' own (private) ones; if they ever move, the public
function is used instead.
"""

from __future__ import annotations

from opentelemetry.context import Context, get_current
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

try:
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN

    def suppressed(ctx: Context | None = None) -> bool:
        """True inside ``suppress_instrumentation()`` (the collector, exporters, tests)."""
        if ctx is None:
            ctx = get_current()
        return bool(
            ctx.get(_SUPPRESS_INSTRUMENTATION_KEY) or ctx.get(_SUPPRESS_INSTRUMENTATION_KEY_PLAIN)
        )

except ImportError:  # pragma: no cover - the private keys moved in some release

    def suppressed(ctx: Context | None = None) -> bool:
        """True inside ``suppress_instrumentation()`` (the collector, exporters, tests)."""
        return not is_instrumentation_enabled()
