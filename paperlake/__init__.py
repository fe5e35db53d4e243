"""paperlake core: Dagster-free functions that turn Daily Papers captures into tables."""

__version__ = "0.1.0"
