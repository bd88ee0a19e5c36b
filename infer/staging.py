"""The runtime staged alone, as it runs in Lambda: what the image, the zip and the emulator's task root hold."""

import compileall
import shutil
from pathlib import Path

import infer


def stage_runtime(dest: str | Path, compile_bytecode: bool = True) -> Path:
    """Copy the runtime alone (infer/__init__.py, infer/runtime/ and its OpenAPI document) into `dest`,
    precompiled for this Python unless told not to."""
    dest = Path(dest)
    source = Path(infer.__file__).parent
    target = dest / "infer"
    (target / "runtime").mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "__init__.py", target / "__init__.py")
    for module in [*(source / "runtime").glob("*.py"), source / "runtime" / "openapi.json"]:
        shutil.copy2(module, target / "runtime" / module.name)
    if compile_bytecode:
        compileall.compile_dir(str(target), quiet=1)
    return dest
