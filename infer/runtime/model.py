"""The model holder: one ONNX Runtime session per execution environment, loaded on first use.

The model's path and name come from the environment (`INFER_MODEL_PATH`, `INFER_MODEL_NAME`); a
manifest beside the model (`iris.onnx` -> `iris.json`) may give the name and class labels, and the
sha256 of the model and its weights sidecars, which are checked before loading
(`INFER_VERIFY_SHA256=off` skips that, for images whose files were checked when they were built).
An .ort model is served memory-mapped at once and its prepacked session swapped in behind it
(`INFER_PREPACK`, two_phase.py); before a SnapStart snapshot everything is done in init (snapstart.py).
"""

import math
import os
import sys
import threading
import time

import onnxruntime as ort

from . import contract, preload, snapstart, two_phase
from . import manifest as manifests
from .errors import ModelUnavailable
from .types import TensorSpec


class Model:
    """A loaded session with its signature; an .ort model's session may be swapped for its prepacked one."""

    def __init__(self, name: str, path: str, session, labels=None, load_ms: float = 0.0, prepack=None):
        self.name = name
        self.path = path
        self.session = session
        self.labels = labels
        self.load_ms = load_ms
        self.loaded_at = time.perf_counter()
        self.inputs = [TensorSpec(i.name, i.type, i.shape) for i in session.get_inputs()]
        self.outputs = [TensorSpec(o.name, o.type, o.shape) for o in session.get_outputs()]
        self.output_names = [o.name for o in self.outputs]
        self.runs = 0
        self.prepacked = False  # serving from the prepacked session built after the load (two_phase)
        self.prepack_thread: threading.Thread | None = None
        self._prepack = prepack  # builds the prepacked session; None once taken (or for none)
        self._prepack_lock = threading.Lock()

    def run(self, feeds: dict, output_names: list[str] | None = None) -> dict:
        session = self.session  # read once: a request in flight finishes on the session it started with
        names = output_names or self.output_names
        outputs = dict(zip(names, session.run(names, feeds)))
        self.runs += 1
        if self._prepack is not None and self.runs >= two_phase.START_AFTER_RUNS:  # past the cold start's request
            two_phase.begin_background(self)
        return outputs

    def take_prepack(self):
        """The prepacked session's builder, to one caller only (None afterwards, or if there is none)."""
        with self._prepack_lock:
            build, self._prepack = self._prepack, None
        return build

    def swap(self, session) -> int:
        """Serve from `session` from the next run on (one attribute store); returns the runs served before."""
        self.session = session
        self.prepacked = True
        return self.runs


def available_cpus(cgroup_cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """CPUs this process may really use: affinity, cgroup quota, and Lambda's memory-to-vCPU ratio."""
    cpus = len(os.sched_getaffinity(0))
    try:
        with open(cgroup_cpu_max) as f:
            quota, period = f.read().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    memory_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory_mb.isdigit():
        cpus = min(cpus, max(1, round(int(memory_mb) / contract.MB_PER_VCPU)))
    return cpus


def thread_count() -> int:
    override = os.environ.get(contract.THREADS, "")
    return int(override) if override.isdigit() and int(override) > 0 else available_cpus()


GRAPH_OPTIMIZATION = dict(zip(contract.GRAPH_OPTIMIZATION_LEVELS, (
    ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
)))


def session_options(path: str = "", prepack: bool = False):
    """Thread counts for the CPUs we may use; for an .ort file, memory-mapped weights and no load-time work.

    An .ort model is opened in place: its weights are used straight from the mapped file, no graph
    optimisation or weight prepacking runs at load (session creation drops from hundreds of ms to a
    few), and warm MatMul-heavy inference can be slower; with `prepack` the weights are prepacked at
    load (the two-phase session's second phase: eager-.onnx warm speed). INFER_GRAPH_OPTIMIZATION
    (disabled, basic, extended, all) sets the level for .onnx files; a model optimised ahead of time needs less.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = thread_count()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    if path.endswith(".ort"):
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        for key in ("session.use_memory_mapped_ort_model", "session.use_ort_model_bytes_for_initializers"):
            options.add_session_config_entry(key, "1")
        if not prepack:
            options.add_session_config_entry("session.disable_prepacking", "1")
        options.add_session_config_entry("session.load_model_format", "ORT")
        return options
    level = os.environ.get(contract.GRAPH_OPTIMIZATION, "all")
    problem = contract.setting_problem(contract.GRAPH_OPTIMIZATION, level)
    if problem:
        raise ModelUnavailable(problem)
    options.graph_optimization_level = GRAPH_OPTIMIZATION[level.strip().lower()]
    return options


class ModelHolder:
    """Loads the model at most once, on first use, safely from any thread."""

    def __init__(self, path: str, name: str | None = None):
        self.path = path
        self._name = name
        self._manifest: dict | None = None
        self._model: Model | None = None
        self._lock = threading.Lock()
        self._waits = threading.local()

    @property
    def manifest(self) -> dict:
        if self._manifest is None:
            try:
                manifest = manifests.read(self.path)
            except manifests.ManifestError as exc:
                raise self._unavailable(str(exc)) from None
            self._manifest = manifest
            return manifest
        return self._manifest

    @property
    def name(self) -> str:
        """Known without loading the model: `--name`, else the manifest's name, else the file's stem."""
        if not self._name:
            self._name = contract.model_name(self.path, self.manifest.get("name"))
        return self._name

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def get(self) -> Model:
        model = self._model
        if model is not None:
            return model
        start = time.perf_counter()
        with self._lock:  # a prefetching thread holds it while it loads: wait for its result
            if self._model is None:
                self._model = self._load()
        self._waits.ms = (time.perf_counter() - start) * 1000.0
        return self._model

    def take_wait_ms(self) -> float | None:
        """How long this thread's last get() waited for the model to load (None: it was loaded already)."""
        waited, self._waits.ms = getattr(self._waits, "ms", None), None
        return waited

    def load_in_background(self) -> threading.Thread:
        """The prefetch strategy: load on a thread during init; the first request waits for it."""

        def load():
            try:
                self.get()
            except ModelUnavailable:  # logged by _load; the first request tries again and answers the error
                pass
            self._waits.ms = None

        thread = threading.Thread(target=load, name="infer-prefetch", daemon=True)
        thread.start()
        return thread

    def _load(self) -> Model:
        if not os.path.isfile(self.path):
            raise self._unavailable(f"model file not found: {self.path} (set {contract.MODEL_PATH} to the .onnx file)")
        start = time.perf_counter()
        preload.wait_for_read_ahead()  # prefetch/eager: the whole model in the page cache before the session maps it
        if os.environ.get(contract.VERIFY_SHA256, "on").strip().lower() not in contract.SWITCH_OFF:
            try:
                manifests.verify(self.path, self.manifest)
            except manifests.ManifestError as exc:
                raise self._unavailable(str(exc)) from None
        try:
            prepack = two_phase.mode(self.path)
        except ValueError as exc:
            raise self._unavailable(str(exc)) from None
        try:
            session = ort.InferenceSession(self.path, session_options(self.path, prepack == "init"),
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise self._unavailable(f"cannot load model {self.path}: {first_line}") from None
        load_ms = (time.perf_counter() - start) * 1000.0
        model = Model(self.name, self.path, session, self.manifest.get("labels"), load_ms,
                      self._prepacked_session if prepack == "background" else None)
        model.prepacked = prepack == "init"
        return model

    def _prepacked_session(self):
        """The second phase of an .ort model: the same file, weights prepacked (two_phase builds it)."""
        return ort.InferenceSession(self.path, session_options(self.path, prepack=True), providers=["CPUExecutionProvider"])

    def _unavailable(self, reason: str) -> ModelUnavailable:
        """The 503 for a model that cannot be loaded: the log gets `reason` whole, a caller (anyone who can
        reach the function) gets it with the model's directory left out: file names, never where they live."""
        sys.stderr.write(f"infer: the model cannot be loaded: {reason}\n")
        directories = {os.path.dirname(p) for p in (self.path, os.path.abspath(self.path), os.path.realpath(self.path))}
        for directory in sorted(directories - {"", os.sep}, key=len, reverse=True):
            reason = reason.replace(directory + os.sep, "")
        return ModelUnavailable(reason)


_holder: ModelHolder | None = None
_holder_lock = threading.Lock()


def holder() -> ModelHolder:
    """The execution environment's model holder, configured from the environment on first call."""
    global _holder
    if _holder is None:
        with _holder_lock:
            if _holder is None:
                _holder = ModelHolder(preload.model_path(), os.environ.get(contract.MODEL_NAME) or None)
    return _holder


def begin(strategy: str) -> None:
    """Start loading as the strategy says: eager loads now (during init), prefetch on a thread, lazy not at all.
    Before a SnapStart snapshot, whatever the strategy: loaded, prepacked and run once now (snapstart.prepare)."""
    if snapstart.active():
        snapstart.prepare(holder())
    elif strategy == "eager":
        holder().get()
        holder().take_wait_ms()
    elif strategy == "prefetch":
        holder().load_in_background()


def reset(new: ModelHolder | None = None) -> None:
    """Forget the loaded model (tests), or install a specific holder."""
    global _holder
    _holder = new
