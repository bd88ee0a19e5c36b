"""`infer convert` as a user runs it: bad input is one line and exit 2; a parity failure exits 1 with the report."""

import json

import joblib
import pytest
import torch
from conftest import run_cli
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch_models import CNN


@pytest.fixture(scope="module")
def files(tmp_path_factory, iris):
    x, y, _ = iris
    d = tmp_path_factory.mktemp("cli")
    joblib.dump(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y), d / "iris.joblib")
    from sklearn.semi_supervised import LabelSpreading

    joblib.dump(LabelSpreading().fit(x[:40], y[:40]), d / "unsupported.joblib")
    joblib.dump({"not": "a model"}, d / "dict.joblib")
    torch.save(CNN(), d / "cnn.pt")
    (d / "notes.txt").write_text("just some text\n")
    import lightgbm

    lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(x, y).booster_.save_model(d / "lgbm.txt")
    return d


def assert_one_line_error(done, pattern):
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert errors[0] == done.stderr.strip().splitlines()[-1]
    import re

    assert re.search(pattern, errors[0]), errors[0]


def test_success_prints_summary_and_progress(files, tmp_path):
    done = run_cli(str(files / "iris.joblib"), "-o", str(tmp_path / "iris.onnx"))
    assert done.returncode == 0, done.stderr
    assert "wrote iris.onnx" in done.stdout and "parity on 64 generated rows, tolerance 0.0001: passed" in done.stdout
    assert "loading" in done.stderr and "checking parity" in done.stderr
    manifest = json.loads((tmp_path / "iris.json").read_text())
    assert manifest["parity"]["passed"] is True


def test_json_prints_the_manifest(files, tmp_path):
    done = run_cli(str(files / "iris.joblib"), "-o", str(tmp_path / "m.onnx"), "--json", "--name", "flowers")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed == json.loads((tmp_path / "m.json").read_text())
    assert printed["name"] == "flowers"


def test_parity_failure_exits_non_zero_and_keeps_the_files(files, tmp_path):
    done = run_cli(str(files / "iris.joblib"), "-o", str(tmp_path / "strict.onnx"), "--tolerance", "1e-12")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "FAILED" in done.stdout and "max abs error" in done.stdout
    assert "parity check failed" in done.stderr and "strict.onnx" in done.stderr
    assert (tmp_path / "strict.onnx").is_file()
    assert json.loads((tmp_path / "strict.json").read_text())["parity"]["passed"] is False


@pytest.mark.parametrize("args, pattern", [
    (["{d}/missing.pkl"], r"model file not found: .*missing\.pkl"),
    (["{d}/notes.txt"], r"is not a model file infer can read"),
    (["{d}/dict.joblib"], r"holds builtins\.dict, which is not a scikit-learn estimator"),
    (["{d}/unsupported.joblib"], r"skl2onnx cannot convert LabelSpreading: .*LabelSpreading"),
    (["{d}/cnn.pt", "-o", "{t}/cnn.onnx"], r"cannot infer the input shape of torch_models\.CNN; pass --sample FILE\.npy, or --input-shape"),
    (["{d}/iris.joblib", "--framework", "torch", "-o", "{t}/x.onnx"],
     r"holds a scikit-learn model .* not PyTorch; pass --framework sklearn"),
    (["{d}/iris.joblib", "--framework", "tensorflow"], r"--framework must be auto, sklearn, torch, xgboost, lightgbm"),
    (["{d}/iris.joblib", "--input-shape", "4 by 1"], r"--input-shape must be positive sizes joined by 'x'"),
    (["{d}/iris.joblib", "--quantize", "int4"], r"--quantize must be one of int8"),
    (["{d}/iris.joblib", "--sample", "{d}/nope.npy"], r"sample file not found"),
    (["{d}/iris.joblib", "--sample", "{d}/notes.txt"], r"cannot read sample .* as a \.npy array"),
    (["{d}/iris.joblib", "-o", "{t}/out.pb"], r"the output must be a \.onnx file"),
    (["{d}/iris.joblib", "--tolerance", "0"], r"--tolerance must be a positive number"),
])
def test_bad_input_is_one_line_and_exit_2(files, tmp_path, args, pattern):
    done = run_cli(*[a.format(d=files, t=tmp_path) for a in args])
    assert_one_line_error(done, pattern)


def test_framework_not_installed_names_the_extra(files, tmp_path):
    hide = "import sys; sys.modules['lightgbm'] = None"
    done = run_cli(str(files / "lgbm.txt"), "-o", str(tmp_path / "l.onnx"), env_python=hide)
    assert_one_line_error(done, r"needs the Python package 'lightgbm', which is not installed: pip install 'infer\[lightgbm\]'")
    hide = "import sys; sys.modules['torch'] = None"
    done = run_cli(str(files / "cnn.pt"), "-o", str(tmp_path / "c.onnx"), env_python=hide)
    assert_one_line_error(done, r"pip install 'infer\[torch\]'")


def test_help_warns_that_pickles_run_code():
    done = run_cli("--help")
    assert done.returncode == 0
    assert "runs code" in " ".join(done.stdout.split())
