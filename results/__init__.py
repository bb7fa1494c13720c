"""The Parquet store (``runs`` and ``curves`` tables), analysis and the report."""
