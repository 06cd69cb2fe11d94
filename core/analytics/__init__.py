"""Analytics (phân tích): the store of facts in Parquet and the console's aggregates on DuckDB."""
