"""Latency measurement: warm requests over HTTP now; cold-start benchmarks build on it."""
