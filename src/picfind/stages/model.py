"""The model stage: pixels → class probabilities and embedding, a batch at a time.

Also where a process keeps its loaded models (``load_model``) and how one image
becomes stored features (``features_of``), for the indexer, the API and the web.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence

import numpy as np

from picfind import imaging
from picfind.errors import ImageError
from picfind.models import DEFAULT_MODEL, Model, ModelOutput, resolve_model_name
from picfind.pipeline import Item, Source
from picfind.records import Features
from picfind.scoring import sparse_top

NOT_FINITE = "the model's output is not finite (NaN or infinity)"

_models: dict[tuple[str, int | None], Model] = {}
_models_lock = threading.Lock()


def load_model(name: str = DEFAULT_MODEL, threads: int | None = None) -> Model:
    """A model, built and loaded once per process."""
    key = (resolve_model_name(name), threads)
    with _models_lock:  # a pipeline warms its model in a thread of its own
        if key not in _models:
            _models[key] = Model.load(key[0], threads=threads)
        return _models[key]


def features_of(out: ModelOutput, i: int) -> Features:
    """The stored features of the i-th image of a batch's output."""
    return Features(sparse_top(out.probs[i]), out.embedding[i])


def image_features(
    model: Model,
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    max_pixels: int = imaging.DEFAULT_MAX_PIXELS,
) -> Features:
    """Features of one image (a file or its bytes), as the store would keep them."""
    loaded = imaging.load_for_model(source, model.input_size, name=name, max_pixels=max_pixels)
    features = features_of(model.run(loaded.pixels[None]), 0)
    if not features.finite():
        label = name or (os.fspath(source) if not isinstance(source, bytes) else "<bytes>")
        raise ImageError(label, NOT_FINITE)
    return features


class ModelStage:
    """Writes ``features``; loads the model only when a batch needs it."""

    name = "model"
    reads = Source.PIXELS
    writes = ("features",)
    batched = True

    def __init__(self, loader: Callable[[], Model]) -> None:
        self._loader = loader
        self._model: Model | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Model:
        """Loaded on first need: a run with nothing new never pays for it."""
        with self._lock:  # the pipeline may be warming it in another thread
            if self._model is None:
                self._model = self._loader()
            return self._model

    def warm(self) -> None:
        """Load the model now (the pipeline calls this in a thread while files decode).

        A failure is left for the batch that needs the model: it loads again there
        and raises in the run's own thread, with the run's error handling.
        """
        with contextlib.suppress(Exception):
            _ = self.model

    def __call__(self, items: Sequence[Item]) -> None:
        batch = [i for i in items if i.pixels is not None]
        if not batch:
            return
        out = self.model.run(np.stack([i.pixels for i in batch if i.pixels is not None]))
        for k, item in enumerate(batch):
            features = features_of(out, k)
            if features.finite():
                item.fields.features = features
            else:
                item.skip(NOT_FINITE)
