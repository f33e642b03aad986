"""Pixels → :class:`~picfind.ocr.result.ReadText`: detect, then read only what was found.

Most photos show no text, so the order of the work is what makes a pass over a
collection fast: the detector runs once, on the photo scaled to a long side of
``Settings.detector_side`` pixels (576 by default; docs/ocr.md shows the
measurements behind it), and when it finds no box nothing else runs. (An optional
first detection at ``Settings.gate_side``, 320 say, stops most photos without text
sooner, at a cost in small print: off by default, measured in docs/ocr.md.) Only the
boxes found are cut out — from the photo at up to ``Settings.max_side``
pixels, so small print keeps its detail — turned upright (direction
classifier) and read, in batches.

Both cores, without waiting on each other: the sessions run one intra-op thread
each by default, and :meth:`Reader.read_many` reads ``Reader.parallel`` photos at
once in its own threads (ONNX Runtime and OpenCV release the GIL). On the pass
(bench/ocr_search.py) that keeps 1.9–2.0 cores busy where one photo on two
intra-op threads kept 1.65 under load, 1.85–1.9 nearly free (ORT's threads meet at
every layer of these small networks); the counters keep the reading threads' CPU
time so a bench can show it.

Thread safety: one :class:`Reader` may be shared by threads; its ONNX Runtime
sessions run concurrently, and its counters are updated under a lock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image

from picfind.errors import ImageError, TextReadError
from picfind.ocr.bundle import ModelFiles, model_files, require_cv2
from picfind.ocr.result import Box, ReadText, TextLine, Word

__all__ = ["Reader", "Settings", "StepCounts"]

log = logging.getLogger(__name__)


GATE_SIDE: int | None = None
"""Off by default: a gate at 320 stops 74 of 100 catsdogs photos before the full
detection, but on the 120 rendered photos it loses 8 of 302 words (found 0.921 → 0.894;
docs/ocr.md)."""


@dataclass(frozen=True)
class Settings:
    """How a :class:`Reader` works; the defaults are the tuned ones (docs/ocr.md)."""

    #: Long side, in pixels, the photo is scaled to for the detector (multiple of 32).
    detector_side: int = 576
    #: A first, small detection at this long side says whether the photo may hold text
    #: at all (``detect.may_hold_text``); only then does the detector run at
    #: ``detector_side`` (None, the default: always). Most photos without text stop
    #: after it, at a third of the cost, but small print is missed (see GATE_SIDE).
    gate_side: int | None = GATE_SIDE
    #: When the first detection finds text, detect again at this long side (None: don't)
    #: — more detail where there is text, no cost where there is none.
    second_side: int | None = None
    #: Long side, in pixels, the line images are cut from (larger photos are scaled down).
    max_side: int = 2048
    #: Run the direction classifier (turns upside-down lines, so 90°/270° text reads).
    classify: bool = True
    #: Lines read with a lower mean character probability are dropped.
    min_confidence: float = 0.5
    #: Line images per recogniser batch.
    batch: int = 8


@dataclass
class StepCounts:
    """What a reader has done so far: photos, per-step runs and seconds (for benches, tests)."""

    photos: int = 0
    detector_runs: int = 0
    boxes: int = 0
    classifier_runs: int = 0
    recogniser_runs: int = 0
    lines: int = 0
    seconds: dict[str, float] = field(
        default_factory=lambda: {"prepare": 0.0, "detect": 0.0, "classify": 0.0, "recognise": 0.0}
    )
    cpu_seconds: float = 0.0
    """CPU time of the threads that read (``time.thread_time``; with one intra-op thread
    per session ONNX Runtime computes in the calling thread, so this is the reading)."""
    critical_cpu_seconds: float = 0.0
    """Per :meth:`Reader.read_many` call, the busiest worker's CPU time, summed: about
    the reading's wall time on ``parallel`` free cores, the wait at each call's end
    for its last photo included."""


class Reader:
    """Reads text in photos with PP-OCR's models on ONNX Runtime (``picfind[ocr]``)."""

    def __init__(
        self,
        detector: Any,
        classifier: Any,
        recogniser: Any,
        alphabet: Sequence[str],
        settings: Settings,
        cv2: ModuleType,
        models: str = "custom",
        parallel: int = 1,
    ) -> None:
        self.settings = settings
        self.parallel = max(1, parallel)
        """Photos :meth:`read_many` reads at once (one thread each)."""
        self._models = models
        self._detector = detector
        self._classifier = classifier
        self._recogniser = recogniser
        self._alphabet = list(alphabet)
        self._cv2 = cv2
        self._lock = threading.Lock()
        self._counts = StepCounts()

    @classmethod
    def load(
        cls,
        settings: Settings | None = None,
        *,
        threads: int | None = None,
        files: ModelFiles | None = None,
        parallel: int | None = None,
    ) -> Reader:
        """Open the bundled models; OcrUnavailableError without ``picfind[ocr]``.

        ``threads``, the cores the reader may use, defaults to ``$PICFIND_THREADS``
        or the usable CPUs (at most 8): the OCR pass runs alone, after indexing.
        ``parallel``, how many photos :meth:`read_many` reads at once, defaults to
        ``threads``; each ONNX Runtime session gets ``threads // parallel`` intra-op
        threads (``parallel=1``: one photo on all the cores, the lowest latency for
        a single photo).
        """
        cv2 = require_cv2()
        files = files if files is not None else model_files()
        import onnxruntime as ort  # ORT ships no type hints (pyproject: ignore_missing_imports)

        from picfind.models import _default_threads  # one rule for threads everywhere

        cores = threads if threads is not None else _default_threads()
        at_once = max(1, min(cores, parallel if parallel is not None else cores))
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, cores // at_once)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Busy-waiting threads would steal the cores from decoding and post-processing.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # ORT's warnings would go to stderr, which is not ours

        def session(path: Path) -> Any:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        recogniser = session(files.recogniser)
        characters = recogniser.get_modelmeta().custom_metadata_map.get("character")
        if not characters:
            raise TextReadError(files.recogniser, "the recogniser carries no character list")
        # CTC blank first, the model's characters, then the space it was trained with.
        alphabet = ["", *characters.splitlines(), " "]
        return cls(
            session(files.detector),
            session(files.classifier),
            recogniser,
            alphabet,
            settings or Settings(),
            cv2,
            "+".join(p.stem for p in (files.detector, files.recogniser, files.classifier)),
            at_once,
        )

    def with_settings(self, **changes: Any) -> Reader:
        """The same sessions with other settings (for tuning; counters start at zero)."""
        return Reader(
            self._detector,
            self._classifier,
            self._recogniser,
            self._alphabet,
            replace(self.settings, **changes),
            self._cv2,
            self._models,
            self.parallel,
        )

    @property
    def version(self) -> str:
        """Which models and settings read the text: store it beside the text, and read
        again the photos read by another version when it changes."""
        s = self.settings
        return (
            f"{self._models}/det{s.detector_side}-{s.second_side or 0}"
            f"{f'/gate{s.gate_side}' if s.gate_side is not None else ''}/max{s.max_side}"
            f"/cls{int(s.classify)}/min{s.min_confidence:g}"
        )

    @property
    def counts(self) -> StepCounts:
        """A snapshot of the counters."""
        with self._lock:
            return replace(self._counts, seconds=dict(self._counts.seconds))

    # ----------------------------------------------------------------------- reading

    def read_file(self, path: str | os.PathLike[str]) -> ReadText:
        """Decode a file (EXIF orientation applied, as :mod:`picfind.imaging` does) and read it.

        ImageError for a file that is not a readable image, TextReadError when
        its text cannot be read.
        """
        from picfind.imaging import open_image

        return self.read(open_image(path), name=os.fspath(path))

    def read(self, image: np.ndarray | Image.Image, *, name: str = "<pixels>") -> ReadText:
        """The text in an upright RGB image (uint8 (H, W, 3) array or Pillow image).

        ``name`` is the path shown in errors. Raises TextReadError (with a reason)
        for pixels it cannot read; never lets a library's own exception through.
        """
        try:
            return self._read(image, name)
        except (ImageError, KeyboardInterrupt):
            raise
        except MemoryError:
            raise TextReadError(name, "out of memory") from None
        except Exception as e:  # cv2.error, ORT's failures: the photo is skipped, the run goes on
            log.debug("reading text in %s failed", name, exc_info=True)
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise TextReadError(name, f"{type(e).__name__}: {reason}"[:300]) from None

    def read_many(
        self, images: Sequence[tuple[np.ndarray | Image.Image, str]]
    ) -> list[ReadText | ImageError]:
        """Read ``(image, name)`` pairs, ``parallel`` at a time; in order, each the
        :class:`ReadText` or the ImageError (mostly TextReadError) :meth:`read` would
        have raised."""

        def one(
            pair: tuple[np.ndarray | Image.Image, str],
        ) -> tuple[ReadText | ImageError, float]:
            started = time.thread_time()
            try:
                found: ReadText | ImageError = self.read(pair[0], name=pair[1])
            except ImageError as e:  # TextReadError: the photo is skipped, the others read
                found = e
            return found, time.thread_time() - started

        if self.parallel == 1 or len(images) < 2:
            done = [one(pair) for pair in images]
            busiest = sum(cpu for _, cpu in done)
        else:
            workers = min(self.parallel, len(images))
            per_worker: dict[int, float] = {}

            def tracked(
                pair: tuple[np.ndarray | Image.Image, str],
            ) -> tuple[ReadText | ImageError, float]:
                out = one(pair)
                ident = threading.get_ident()
                per_worker[ident] = per_worker.get(ident, 0.0) + out[1]  # one key per thread
                return out

            with ThreadPoolExecutor(workers, thread_name_prefix="picfind-ocr") as pool:
                done = list(pool.map(tracked, images))
            busiest = max(per_worker.values(), default=0.0)
        self._add(cpu_seconds=sum(cpu for _, cpu in done), critical_cpu_seconds=busiest)
        return [found for found, _ in done]

    def _read(self, image: np.ndarray | Image.Image, name: str) -> ReadText:
        from picfind.ocr import recognise

        cv2 = self._cv2
        s = self.settings
        t0 = time.perf_counter()
        rgb = _rgb_array(image, name)
        height, width = rgb.shape[:2]
        if min(height, width) < 8:  # too small to hold a readable character
            self._add(photos=1)
            return ReadText((), width, height)
        scale = min(1.0, s.max_side / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # the models were trained on BGR
        t1 = time.perf_counter()
        runs = 0
        if s.gate_side is not None and s.gate_side < s.detector_side:
            runs += 1
            if not self._may_hold_text(bgr, s.gate_side):
                self._add(
                    photos=1, detector_runs=runs, prepare=t1 - t0, detect=time.perf_counter() - t1
                )
                return ReadText((), width, height)
        found = self._detect(bgr, s.detector_side)
        runs += 1
        if found and s.second_side is not None and s.second_side > s.detector_side:
            found = self._detect(bgr, s.second_side)
            runs += 1
        t3 = time.perf_counter()
        self._add(photos=1, detector_runs=runs, boxes=len(found), prepare=t1 - t0, detect=t3 - t1)
        if not found:
            return ReadText((), width, height)
        h, w = bgr.shape[:2]

        crops = [recognise.crop(bgr, box) for box, _ in found]
        if s.classify:
            self._classify(crops)
        t4 = time.perf_counter()
        decoded = self._recognise([c.image for c in crops])
        t5 = time.perf_counter()
        self._add(recognise=t5 - t4)

        lines: list[TextLine] = []
        for c, d in zip(crops, decoded, strict=True):
            text = d.text.strip()
            if not text or d.confidence < s.min_confidence:
                continue
            words = tuple(
                Word(word, _normalised(recognise.along(c.corners, a, b), w, h))
                for word, a, b in d.spans
            )
            lines.append(TextLine(text, d.confidence, _normalised(c.corners, w, h), words))
        self._add(lines=len(lines))
        return ReadText(tuple(lines), width, height)

    def _detect(self, bgr: np.ndarray, side: int) -> list[tuple[np.ndarray, float]]:
        from picfind.ocr import detect

        x, sx, sy = detect.detector_input(bgr, side)
        prob = self._detector.run(None, {"x": x})[0][0, 0]
        return detect.boxes_from_map(prob, sx, sy, bgr.shape[1], bgr.shape[0])

    def _may_hold_text(self, bgr: np.ndarray, side: int) -> bool:
        from picfind.ocr import detect

        x, _, _ = detect.detector_input(bgr, side)
        return detect.may_hold_text(self._detector.run(None, {"x": x})[0][0, 0])

    def _classify(self, crops: list[Any]) -> None:
        from picfind.ocr import recognise

        t = time.perf_counter()
        runs = 0
        for start in range(0, len(crops), self.settings.batch):
            batch = crops[start : start + self.settings.batch]
            x = recognise.classifier_input([c.image for c in batch])
            probs = self._classifier.run(None, {"x": x})[0]
            runs += 1
            for c, p in zip(batch, probs, strict=True):
                if int(np.argmax(p)) == 1 and float(p[1]) > recognise.UPSIDE_DOWN_SURE:
                    recognise.turn_upside_down(c)
        self._add(classifier_runs=runs, classify=time.perf_counter() - t)

    def _recognise(self, images: list[np.ndarray]) -> list[Any]:
        from picfind.ocr import recognise

        # Batches of similar widths waste the least padding.
        order = sorted(range(len(images)), key=lambda i: images[i].shape[1] / images[i].shape[0])
        out: list[Any] = [None] * len(images)
        runs = 0
        for start in range(0, len(order), self.settings.batch):
            chunk = order[start : start + self.settings.batch]
            x, filled = recognise.recogniser_input([images[i] for i in chunk])
            probs = self._recogniser.run(None, {"x": x})[0]
            runs += 1
            for i, p, f in zip(chunk, probs, filled, strict=True):
                out[i] = recognise.decode(p, self._alphabet, f)
        self._add(recogniser_runs=runs)
        return out

    def _add(self, **amounts: float) -> None:
        with self._lock:
            for key, value in amounts.items():
                if key in ("cpu_seconds", "critical_cpu_seconds"):
                    setattr(self._counts, key, getattr(self._counts, key) + value)
                elif key in self._counts.seconds:
                    self._counts.seconds[key] += value
                else:
                    setattr(self._counts, key, getattr(self._counts, key) + int(value))


def _rgb_array(image: np.ndarray | Image.Image, name: str) -> np.ndarray:
    """uint8 (H, W, 3) RGB from a Pillow image or an array (grey arrays are accepted)."""
    if isinstance(image, Image.Image):
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.asarray(image)
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise TextReadError(name, f"expected uint8 pixels, got {array.dtype}")
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise TextReadError(name, f"expected (height, width, 3) RGB pixels, got {array.shape}")
    return array


def _normalised(corners: np.ndarray, width: int, height: int) -> Box:
    """Pixel corners → 0–1 coordinates of the image (whatever size it was read at)."""
    a, b, c, d = (
        (min(1.0, max(0.0, float(x) / width)), min(1.0, max(0.0, float(y) / height)))
        for x, y in corners
    )
    return (a, b, c, d)
