"""Auto-instrumentors, one module per library, each a standard `BaseInstrumentor`."""
