"""Element standards turned into Great Expectations, run inside DuckDB (a library: no Dagster)."""
