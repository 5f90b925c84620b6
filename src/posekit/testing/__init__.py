"""Helpers for tests, benchmarks and first tries: synthetic labelled datasets, the SST-A demo data."""
