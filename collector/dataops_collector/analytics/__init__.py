"""DataOps answers over the derived tables: catalog, lineage, freshness/SLOs, volume,
schema changes, jobs and cost. The views live in migrations ``0010+``; the
parameterised questions (lineage walks, cost over a period) live here."""
