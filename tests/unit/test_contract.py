"""The contract between infer's parts: its rules, and that the parts use it rather than copies."""

import re
from pathlib import Path

import pytest

from infer.runtime import contract

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name, value, host, problem", [
    ("MY_SETTING", "x", False, None),
    ("INFER_LOAD_STRATEGY", "prefetch", True, None),
    ("INFER_LOAD_STRATEGY", "bogus", False, "INFER_LOAD_STRATEGY must be one of lazy, prefetch, eager"),
    ("INFER_THREADS", "0", False, "positive whole number"),
    ("INFER_VERIFY_SHA256", "maybe", False, "must be one of on"),
    ("AWS_REGION", "x", False, "reserved by Lambda"),
    ("_HANDLER", "x", False, "reserved by Lambda"),
    ("9LIVES", "x", False, "is not valid"),
    ("MY-VAR", "x", False, "is not valid"),
    ("MY_VAR", "a\nb", False, "line break"),
    ("OPENSSL_CONF", "/tmp/x.cnf", False, None),  # harmless inside Lambda's microVM...
    ("OPENSSL_CONF", "/tmp/x.cnf", True, "may not be set here"),  # ...not in a process on this host
    ("LD_PRELOAD", "/tmp/x.so", True, "may not be set here"),
    ("pythonpath", "/tmp", True, "may not be set here"),
    ("INFER_MODEL_PATH", "/etc/passwd", True, "may not be set here"),
])
def test_variable_rules(name, value, host, problem):
    found = contract.variable_problem(name, value, host_process=host)
    assert (found is None) if problem is None else (problem in (found or "")), found


@pytest.mark.parametrize("memory_mb, ok", [(128, True), (10240, True), (127, False), (10241, False),
                                           (True, False), (2048.0, False), ("2048", False)])
def test_memory_range(memory_mb, ok):
    assert (contract.memory_problem(memory_mb) is None) == ok


def test_model_name_rule():
    assert contract.model_name("/m/iris.onnx") == "iris"
    assert contract.model_name("/m/iris.onnx", "flowers") == "flowers"
    assert contract.model_name("/m/iris.onnx", "flowers", "given") == "given"
    assert contract.model_name("/m/iris.onnx", {"not": "a name"}) == "iris"
    assert contract.sidecar_path("/m/big.onnx") == "/m/big.onnx.data"


def test_facts_are_not_copied_outside_the_contract():
    """The handler string, the 6 MB limit, the memory range and the strategy list appear only in contract.py."""
    patterns = {
        "handler string": re.compile(r'"infer\.runtime\.handler\.handler"'),
        "6 MB payload": re.compile(r"6 \* 1024 \* 1024"),
        "memory range": re.compile(r"\b128 <= .*10240\b"),
        "strategy list": re.compile(r'\("lazy", "prefetch", "eager"\)'),
        "sidecar suffix": re.compile(r'\+ "\.data"'),
    }
    sources = [p for p in [*(ROOT / "infer").rglob("*.py"), *(ROOT / "cdk").rglob("*.py")]
               if p.name != "contract.py" and "cdk.out" not in p.parts]
    copies = [f"{p.relative_to(ROOT)}: {what}" for p in sources for what, pattern in patterns.items()
              if pattern.search(p.read_text())]
    assert not copies, copies
