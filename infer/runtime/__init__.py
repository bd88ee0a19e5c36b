"""The code that runs inside Lambda: standard library, numpy and onnxruntime only."""

__version__ = "0.1.0"
