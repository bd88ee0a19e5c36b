"""The per-request EMF line: cold-start flag, metrics present only when measured, a switch to silence it."""

import io
import json

from infer.runtime import metrics


def test_cold_start_is_true_once():
    metrics.reset_cold_start()
    assert [metrics.take_cold_start() for _ in range(3)] == [True, False, False]
    metrics.reset_cold_start()


def test_line_lists_exactly_the_metrics_it_carries():
    out = io.StringIO()
    line = metrics.record("id-1", "/predict", 200, "iris", True, 1.25, 30.5, stream=out)
    assert json.loads(out.getvalue()) == line
    names = [m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert names == ["ColdStart", "InferenceMs", "ModelLoadMs"]
    assert (line["ColdStart"], line["InferenceMs"], line["ModelLoadMs"]) == (1, 1.25, 30.5)
    bare = metrics.record("id-2", "/v2", 200, "iris", False, None, None, stream=io.StringIO())
    assert [m["Name"] for m in bare["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == ["ColdStart"]


def test_infer_metrics_off_silences_the_line(monkeypatch):
    monkeypatch.setenv("INFER_METRICS", "off")
    out = io.StringIO()
    metrics.record("id-3", "/predict", 200, "iris", False, 1.0, None, stream=out)
    assert out.getvalue() == ""


def test_the_first_line_after_a_snapstart_restore_says_restore(monkeypatch):
    metrics.reset_cold_start()
    assert metrics.record("id-4", "/predict", 200, "iris", False, 1.0, None, stream=io.StringIO())["restore"] is False
    metrics.note_restore()  # what the after-restore hook calls
    lines = [metrics.record(f"id-{n}", "/predict", 200, "iris", False, 1.0, None, stream=io.StringIO()) for n in (5, 6)]
    assert [line["restore"] for line in lines] == [True, False]
