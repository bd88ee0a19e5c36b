"""The CDK side of `infer deploy`: a reusable construct (`OnnxFunction`) and the stack that holds it."""

from .construct import OnnxFunction
from .stack import InferStack, build_app, synth

__all__ = ["OnnxFunction", "InferStack", "build_app", "synth"]
