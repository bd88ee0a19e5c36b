"""Baseline Lambda functions that `infer bench` measures the runtime against, with the same method."""
