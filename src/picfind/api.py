"""The Python API: open an index, index paths, search, predict.

Everything the CLI, the web server and the notebook do goes through here::

    import picfind
    index = picfind.open_index("~/.local/share/picfind/default")
    index.add(["~/Pictures"])
    index.search_words("dog", limit=20)
    index.search_image("~/Pictures/cat.jpg")          # more like this (hybrid)
    picfind.predict("photo.jpg")                       # top-10 ImageNet classes
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from picfind import imaging
from picfind.errors import EmptyIndexError, ModelMismatchError, NotFoundError, UsageError
from picfind.indexer import Indexer
from picfind.matchers import Clause, WordsQuery
from picfind.models import DEFAULT_MODEL, MODELS, Model, resolve_model_name
from picfind.passes import PassReport, run_pass
from picfind.pipeline import Stage
from picfind.records import (
    Features,
    ImageDetails,
    ImageText,
    IndexReport,
    Label,
    Progress,
    SearchResults,
    Stats,
    StoredFile,
)
from picfind.scoring import sparse_top
from picfind.search import DEFAULT_MODE, Mode, Searcher, check_mode
from picfind.search import labels_of as _labels_of
from picfind.stages.model import image_features as _features_of_image
from picfind.stages.model import load_model
from picfind.store.base import Filter, Store
from picfind.store.cluster.connection import ClusterOptions
from picfind.store.embedded import EmbeddedStore
from picfind.textsearch import text_match
from picfind.vocabulary import Vocabulary

if TYPE_CHECKING:
    from picfind.ocr import Reader

OCR_BATCH = 8
"""Photos per committed batch of the OCR pass: decoded photos at up to 2048 pixels
are large, and a batch takes a few seconds."""


def default_index_dir() -> Path:
    """``$PICFIND_INDEX``, else ``$XDG_DATA_HOME/picfind/default`` (~/.local/share/…)."""
    env = os.environ.get("PICFIND_INDEX")
    if env:
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME")
    base = Path(data) if data else Path.home() / ".local" / "share"
    return base / "picfind" / "default"


def image_features(model: Model, path: str | os.PathLike[str]) -> Features:
    """Features of one image file, as the store would keep them."""
    return _features_of_image(model, path)


@dataclass(frozen=True)
class Prediction:
    """The paper's step 3.4: an image's top ImageNet classes."""

    path: str
    model: str
    labels: list[Label]

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "model": self.model,
            "labels": [label.to_json() for label in self.labels],
        }


def predict(
    path: str | os.PathLike[str], *, model: str = DEFAULT_MODEL, top: int = 10
) -> Prediction:
    """Top ``top`` classes of an image with their probabilities."""
    if top < 1:
        raise UsageError("--top must be at least 1")
    m = load_model(model)
    loaded = imaging.load_for_model(path, m.input_size)
    probs = m.run(loaded.pixels[None]).probs[0]
    best = sparse_top(probs, min(top, probs.shape[0]))
    vocab = Vocabulary.load()
    return Prediction(os.fspath(path), m.name, _labels_of(best.ids, best.probs, vocab))


class Index:
    """An index of images with its model: add folders, then search them."""

    def __init__(self, store: Store, model: str | None = None, threads: int | None = None) -> None:
        self.store = store
        self.threads = threads
        stored = store.model
        requested = resolve_model_name(model) if model else None
        if stored and requested and stored != requested:
            raise ModelMismatchError(
                f"this index was built with {stored}, not {requested}; "
                f"use --model {stored}, or another --index for {requested}"
            )
        if stored and stored not in MODELS:
            raise ModelMismatchError(f"this index was built with an unknown model {stored!r}")
        self.model_name = stored or requested or DEFAULT_MODEL

    @cached_property
    def _searcher(self) -> Searcher:
        return Searcher(self.store)

    @property
    def model(self) -> Model:
        """The index's model, loaded on first use."""
        return load_model(self.model_name, self.threads)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- indexing -------------------------------------------------------------------
    def add(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        exclude: Sequence[str] = (),
        include_hidden: bool = False,
        follow_outside_links: bool = False,
        batch_size: int = 32,
        progress: Callable[[Progress], None] | None = None,
    ) -> IndexReport:
        """Index files and folders: new and changed files are processed, the rest kept.

        A symbolic link whose target is outside every folder given is skipped with a
        reason, unless ``follow_outside_links``."""
        if not paths:
            raise UsageError("give at least one file or folder to index")
        for p in paths:
            if not os.path.exists(p):
                raise NotFoundError(f"no such file or folder: {p}")
        with self.store.writer_lock([os.path.abspath(os.fspath(p)) for p in paths]):
            if self.store.model is None:
                self.store.set_model(self.model_name)
            spec = MODELS[self.model_name]
            indexer = Indexer(
                self.store,
                lambda: self.model,
                input_size=spec.input_size,
                batch_size=batch_size,
            )
            return indexer.run(
                [os.fspath(p) for p in paths],
                exclude=exclude,
                include_hidden=include_hidden,
                follow_outside_links=follow_outside_links,
                progress=progress,
            )

    def run_pass(
        self,
        paths: Sequence[str | os.PathLike[str]],
        stages: Sequence[Stage],
        *,
        needs: Callable[[StoredFile], bool] = lambda row: True,
        batch_size: int = 32,
        progress: Callable[[Progress], None] | None = None,
    ) -> PassReport:
        """Run pipeline stages over the rows already indexed under ``paths`` that still
        ``need`` them (a metadata backfill, a slow second pass): resumable, batch by
        batch, without the model unless a stage reads pixels. See ``picfind.passes``."""
        if not paths:
            raise UsageError("give at least one file or folder")
        with self.store.writer_lock([os.path.abspath(os.fspath(p)) for p in paths]):
            return run_pass(
                self.store,
                stages,
                [os.path.abspath(os.fspath(p)) for p in paths],
                needs=needs,
                input_size=MODELS[self.model_name].input_size,
                batch_size=batch_size,
                progress=progress,
            )

    def read_text(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        reader: Reader | None = None,
        batch_size: int = OCR_BATCH,
        progress: Callable[[Progress], None] | None = None,
    ) -> PassReport:
        """Read the text in the indexed photos under ``paths`` (the OCR pass, docs/ocr.md).

        Only rows not yet read by this reader's version are read; every batch is
        committed, so an interrupted pass keeps what it read and a re-run resumes.
        Photos whose text could not be read are in the report's ``skipped`` (their
        reason is stored: the same reader does not try them again). Raises
        OcrUnavailableError without the ``ocr`` extra, before anything is read.
        """
        from picfind.ocr import Reader
        from picfind.stages.ocr import ocr_stages

        reader = reader or Reader.load(threads=self.threads)
        stages, reading = ocr_stages(reader)
        report = self.run_pass(
            paths, stages, needs=reading.needs, batch_size=batch_size, progress=progress
        )
        report.skipped += reading.failed
        return report

    def text_of(self, image: str | os.PathLike[str]) -> ImageText | None:
        """The text read in an indexed image (a path or an id): its lines with their boxes
        in ``record`` (``picfind.ocr.ReadText.from_dict``); None when none was read."""
        text = os.fspath(image)
        path = os.path.abspath(text)
        row = next(self.store.rows(paths=[path]), None) or next(self.store.rows(ids=[text]), None)
        if row is None:
            raise NotFoundError(f"no such indexed image (path or id): {text}")
        return self.store.texts([row.id]).get(row.id)

    def prune(self) -> int:
        """Drop entries whose files are gone; returns how many."""
        with self.store.writer_lock():
            gone = [f.id for f in self.store.rows() if not os.path.exists(f.path)]
            self.store.write(remove=gone)
        return len(gone)

    # -- searching ------------------------------------------------------------------
    def resolve_image(self, query: str | os.PathLike[str]) -> tuple[Features, list[str]]:
        """Features of a query image (a file or an indexed id) and ids to leave out."""
        text = os.fspath(query)
        if os.path.exists(text):
            path = os.path.abspath(text)
            stored = next(self.store.rows(paths=[path], features=True), None)
            if stored is not None:
                st = os.stat(path)
                same = stored.size == st.st_size and stored.mtime_ns == st.st_mtime_ns
                if same and stored.features is not None:
                    return stored.features, [stored.id]
                return image_features(self.model, path), [stored.id]
            return image_features(self.model, path), []
        by_id = next(self.store.rows(ids=[text], features=True), None)
        if by_id is not None and by_id.features is not None:
            return by_id.features, [text]
        raise NotFoundError(f"no such file or indexed image id: {text}")

    def search_image(
        self,
        query: str | os.PathLike[str],
        *,
        mode: Mode = DEFAULT_MODE,
        limit: int = 10,
        offset: int = 0,
        under: str | os.PathLike[str] | None = None,
        where: Filter | None = None,
    ) -> SearchResults:
        """More like this: ``query`` is an image file or an indexed image's id.
        ``where``: capture restrictions (``search.capture_filter``)."""
        check_mode(mode)
        features, exclude = self.resolve_image(query)
        results = self._searcher.by_features(
            features,
            mode,
            exclude=exclude,
            limit=limit,
            offset=offset,
            under=_folder(under),
            where=where,
        )
        return self._not_empty(results)

    def search_words(
        self,
        words: str | Sequence[str],
        *,
        limit: int = 10,
        offset: int = 0,
        under: str | os.PathLike[str] | None = None,
        where: Filter | None = None,
        min_score: float | None = None,
    ) -> SearchResults:
        """Images the words describe, each with why. ``where``: capture restrictions and the
        order (``search.capture_filter``); ``min_score`` is the mass each word must reach
        (default: the relevance floor, ``scoring.KEYWORD_FLOOR``)."""
        results = self._searcher.by_words(
            words,
            limit=limit,
            offset=offset,
            under=_folder(under),
            where=where,
            min_score=min_score,
        )
        return self._not_empty(results)

    def search_text(
        self,
        text: str,
        *,
        prefix: bool = False,
        limit: int = 10,
        offset: int = 0,
        under: str | os.PathLike[str] | None = None,
    ) -> SearchResults:
        """Images whose read text holds ``text`` as a phrase (case and accents folded;
        ``prefix``: its last word may start a longer one). Mode ``"text"``."""
        matcher = text_match(text, prefix=prefix)
        if matcher is None:
            raise UsageError(f"no word to look for in {text!r}")
        query = WordsQuery((Clause((matcher,)),))
        results = self._searcher.run(
            query, "text", limit=limit, offset=offset, under=_folder(under), text=text
        )
        return self._not_empty(results)

    def stats(self) -> Stats:
        return self.store.stats()

    def show(self, ref: str | os.PathLike[str], *, top: int = 5) -> ImageDetails:
        """Everything stored about one image, by its path or its id: file, size, top
        classes, capture time and its source, place and camera, the text read in it."""
        text = os.fspath(ref)
        row = next(self.store.rows(paths=[os.path.abspath(text)], metadata=True), None)
        if row is None:
            row = next(self.store.rows(ids=[text], metadata=True), None)
        if row is None:
            raise NotFoundError(f"not in the index: {text} (give an indexed file or an id)")
        row = dataclasses.replace(row, text=self.store.texts([row.id]).get(row.id))
        doc = self.store.summaries([row.id]).get(row.id)
        labels = []
        if doc is not None:
            labels = _labels_of(doc.class_ids[:top], doc.class_probs[:top], Vocabulary.load())
        return ImageDetails(row, labels)

    def _not_empty(self, results: SearchResults) -> SearchResults:
        """No results from an empty index is the user's mistake, and said so."""
        if results.total == 0 and self.store.stats().images == 0:
            raise EmptyIndexError("the index is empty; run 'picfind index PATH' first")
        return results


def _folder(under: str | os.PathLike[str] | None) -> str | None:
    return os.path.abspath(os.fspath(under)) if under is not None else None


def open_index(
    path: str | os.PathLike[str] | None = None,
    *,
    model: str | None = None,
    create: bool = False,
    threads: int | None = None,
    url: str | None = None,
    cluster: ClusterOptions | None = None,
    read_only: bool = False,
) -> Index:
    """Open (or with ``create``, create) an embedded index folder, or with ``url`` an
    OpenSearch/Elasticsearch index (``cluster``: credentials, index name, layout).

    ``read_only``: an embedded index is opened without writing anything, not even its
    search cache (an index that cannot be written is opened so anyway)."""
    if url:
        from picfind.store.cluster.store import ClusterStore

        store = ClusterStore(url, cluster or ClusterOptions.from_env(), create=create)
        try:
            return Index(store, model=model, threads=threads)
        except BaseException:
            store.close()
            raise
    folder = Path(path).expanduser() if path is not None else default_index_dir()
    embedded = EmbeddedStore(folder, create=create, read_only=read_only)
    return Index(embedded, model=model, threads=threads)


__all__ = [
    "ClusterOptions",
    "Index",
    "Prediction",
    "default_index_dir",
    "image_features",
    "load_model",
    "open_index",
    "predict",
]
