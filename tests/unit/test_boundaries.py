"""The lines between infer's packages, read from their import statements (no module is imported here)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> the infer packages it must never import
FORBIDDEN = {
    "infer/package": ("infer.local", "infer.deploy", "infer.bench"),  # packaging does not import the emulator
    "infer/deploy": ("infer.local", "infer.bench"),
    "infer/local": ("infer.package", "infer.deploy", "infer.bench", "infer.convert"),  # the emulator lives alone
    "infer/runtime": ("infer.local", "infer.package", "infer.deploy", "infer.bench", "infer.convert", "infer.cli",
                      "infer.client", "infer.staging", "infer.podman", "infer.load_choice"),
    "cdk/infer_cdk": ("infer.local", "infer.package", "infer.deploy", "infer.bench", "infer.convert", "infer.cli"),
}


def imported_modules(path: Path, module: str) -> set[str]:
    """Every module `path` (the module named `module`) imports, relative imports made absolute."""
    tree = ast.parse(path.read_text(), str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, *([node.module] if node.module else [])]))
    return names


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[1:] if parts[0] == "cdk" else parts)


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_imports_across_the_lines(folder):
    crossings = [f"{path.relative_to(ROOT)} imports {name}"
                 for path in sorted((ROOT / folder).rglob("*.py"))
                 for name in sorted(imported_modules(path, module_name(path)))
                 if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN[folder])]
    assert not crossings, crossings


def test_relative_imports_are_resolved(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from ..deploy import state\nfrom . import pool\nfrom .function import x\nimport infer.runtime\n")
    assert imported_modules(probe, "infer.local.probe") == {"infer.deploy", "infer.local", "infer.local.function",
                                                            "infer.runtime"}


# The runtime's one exception to "stdlib, numpy and onnxruntime": boto3 (with botocore), for SQS and S3
# events, imported inside a function of this module only, so that a function URL cold start never pays for it.
LAZY_AWS_MODULE = "infer/runtime/output.py"


def test_boto3_only_lazily_and_only_in_the_output_module():
    found = []
    for path in sorted((ROOT / "infer/runtime").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        in_functions = {inner for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                        for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                if name.split(".")[0] in ("boto3", "botocore"):
                    found.append((path.relative_to(ROOT).as_posix(), name, node in in_functions))
    assert found, "the output module imports boto3"
    assert all(where == LAZY_AWS_MODULE and lazy for where, _, lazy in found), found
