"""infer: a trained model as an ONNX Runtime function on AWS Lambda, and the same function locally.

This file is copied into the Lambda image beside ``infer/runtime/``: keep it free of imports.
"""
