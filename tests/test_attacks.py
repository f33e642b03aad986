"""picfind under attack (issue 8): each test is an attack reproduced end to end.

Named ``test_attack_<name>``, each failed before its fix and passes after, so this
file is the record of what picfind survives. Attacks on the server run against a
real uvicorn server on a real socket (raw sockets for slow bodies and headers,
real multipart uploads); attacks on the weight reader use crafted ``.pth`` files
written the way ``torch.save`` writes them (pickled through stand-in ``torch``
modules, so the pickles are byte for byte what PyTorch would emit).
"""

from __future__ import annotations

import collections
import contextlib
import io
import pickle
import struct
import subprocess
import sys
import textwrap
import time
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from picfind import torchfile
from picfind.errors import ModelError
from picfind.torchfile import load_state_dict

# --------------------------------------------------------------------------- weight files


class _Storage:
    """What a torch storage pickles as: a persistent id naming its type, key and size."""

    def __init__(self, key: str, numel: int, type_name: str = "FloatStorage") -> None:
        self.key, self.numel, self.type_name = key, numel, type_name


class _Tensor:
    def __init__(
        self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
    ) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


@contextlib.contextmanager
def _stand_in_torch() -> Iterator[tuple[object, dict[str, type]]]:
    """Modules ``torch`` and ``torch._utils`` just real enough for pickle to name them."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args: object) -> None:  # pragma: no cover - never called
        raise AssertionError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2  # type: ignore[attr-defined]
    storage_types = {}
    for name in ("FloatStorage", "LongStorage"):
        storage_types[name] = type(name, (), {"__module__": "torch"})
        setattr(torch, name, storage_types[name])
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    try:
        yield _rebuild_tensor_v2, storage_types
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def state_pickle(tensors: dict[str, _Tensor], *, legacy: bool = True) -> bytes:
    """The state-dict pickle ``torch.save`` writes for these tensors."""
    with _stand_in_torch() as (rebuild, storage_types):

        class Pickler(pickle.Pickler):
            def persistent_id(self, obj: object) -> object:
                if isinstance(obj, _Storage):
                    pid = ("storage", storage_types[obj.type_name], obj.key, "cpu", obj.numel)
                    return (*pid, None) if legacy else pid
                return None

            def reducer_override(self, obj: object) -> object:
                if isinstance(obj, _Tensor):
                    args = (obj.storage, obj.offset, obj.size, obj.stride, False, {})
                    return rebuild, args
                return NotImplemented

        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump(collections.OrderedDict(tensors))
        return buf.getvalue()


_LEGACY_HEAD = b"".join(
    pickle.dumps(obj, protocol=2)
    for obj in (
        0x1950A86A20F9469CFC6C,
        1001,
        {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2}},
    )
)


def legacy_pth(path: Path, state: bytes, storages: list[tuple[_Storage, bytes]]) -> Path:
    """A torch < 1.6 file: four pickles, the storage keys, then each storage's bytes."""
    keys = pickle.dumps([s.key for s, _ in storages], protocol=2)
    data = b"".join(struct.pack("<q", s.numel) + raw for s, raw in storages)
    path.write_bytes(_LEGACY_HEAD + state + keys + data)
    return path


def one_float(tensor_size: tuple[int, ...], stride: tuple[int, ...], offset: int = 0) -> bytes:
    """A state dict of one tensor ``w`` over a storage of one float."""
    storage = _Storage("0", 1)
    return state_pickle({"w": _Tensor(storage, offset, tensor_size, stride)})


FLOAT_ONE = struct.pack("<f", 1.0)


def max_rss_mb_of(code: str) -> tuple[float, str]:
    """Run ``code`` in a fresh interpreter; its peak RSS in MB and what it printed."""
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import resource
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    *lines, rss = done.stdout.strip().splitlines()
    return float(rss), "\n".join(lines)


def test_attack_weights_stride0_expands_one_float_to_a_gib(tmp_path: Path) -> None:
    """A 300-byte .pth naming 2**28 elements at stride 0 over one float: was 1 GiB in 3.5 s."""
    path = legacy_pth(
        tmp_path / "s0.pth", one_float((2**28,), (0,)), [(_Storage("0", 1), FLOAT_ONE)]
    )
    assert path.stat().st_size < 400
    started = time.perf_counter()
    with pytest.raises(ModelError, match="268435456 elements over storage 0 of 1"):
        load_state_dict(path)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("size", "stride", "offset", "reason"),
    [
        ((2**40,), (0,), 0, "elements over storage"),  # was MemoryError (4 TiB)
        ((2**63,), (1,), 0, "elements over storage"),  # was OverflowError
        ((2**70, 0), (1, 1), 0, "malformed weights"),  # zero elements, absurd dims
        ((1,), (1,), 2**64, "reaches past"),  # offset past the storage
        ((1, 1), (1, 2**62), 1, "reaches past"),  # one element, just past the storage
        ((1,), (-1,), 0, "non-negative"),
        ((1,), (1,), -1, "non-negative"),
        ((1.5,), (1,), 0, "non-negative integers"),  # type: ignore[arg-type]
        ((True,), (1,), 0, "non-negative integers"),
        ((1, 1), (1,), 0, "dimensions"),
        ((1,) * 40, (1,) * 40, 0, "dimensions"),
    ],
)
def test_attack_weights_huge_or_bad_geometry_is_a_model_error(
    tmp_path: Path, size: tuple[int, ...], stride: tuple[int, ...], offset: int, reason: str
) -> None:
    path = legacy_pth(
        tmp_path / "g.pth", one_float(size, stride, offset), [(_Storage("0", 1), FLOAT_ONE)]
    )
    with pytest.raises(ModelError, match=reason):
        load_state_dict(path)


def test_attack_weights_storage_larger_than_the_file(tmp_path: Path) -> None:
    """A storage declaring 2**60 floats in a 300-byte file was a MemoryError on read."""
    huge = _Storage("0", 2**60)
    state = state_pickle({"w": _Tensor(huge, 0, (1,), (1,))})
    path = legacy_pth(tmp_path / "n.pth", state, [(huge, FLOAT_ONE)])
    with pytest.raises(ModelError, match="truncated weights file: storage 0 needs"):
        load_state_dict(path)


def test_attack_weights_many_tensors_over_one_storage(tmp_path: Path) -> None:
    """4,000 entries each naming the whole of one 1 MB storage would copy 4 GB."""
    storage = _Storage("0", 2**18)
    tensor = _Tensor(storage, 0, (2**18,), (1,))
    state = state_pickle({f"w{i}": tensor for i in range(4000)})
    path = legacy_pth(tmp_path / "m.pth", state, [(storage, bytes(4 * 2**18))])
    with pytest.raises(ModelError, match="repeat their storages' bytes"):
        load_state_dict(path)


def test_weights_tied_tensors_still_load(tmp_path: Path) -> None:
    """Two names viewing one storage (tied weights, a transposed view) are legitimate."""
    storage = _Storage("0", 6)
    state = state_pickle(
        {"a": _Tensor(storage, 0, (2, 3), (3, 1)), "b": _Tensor(storage, 0, (3, 2), (1, 3))}
    )
    values = np.arange(6, dtype="<f4")
    path = legacy_pth(tmp_path / "t.pth", state, [(storage, values.tobytes())])
    loaded = load_state_dict(path)
    np.testing.assert_array_equal(loaded["a"], values.reshape(2, 3))
    np.testing.assert_array_equal(loaded["b"], values.reshape(2, 3).T)


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torch zip whose 1-float storage's member is 1 GiB of zeros (4.7 MB deflated)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.pt"
    state = state_pickle({"w": _Tensor(_Storage("0", 1), 0, (1,), (1,))}, legacy=False)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("archive/data.pkl", state)
        zf.writestr("archive/byteorder", b"little")
        with zf.open("archive/data/0", "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(1024):
                member.write(chunk)
    return path


def test_attack_weights_zip_member_of_a_gib_behind_one_float(zip_bomb: Path) -> None:
    """Was read whole: 2,082 MB peak RSS and 7 s. Now 4 bytes are inflated."""
    assert zip_bomb.stat().st_size < 8_000_000
    rss, out = max_rss_mb_of(
        f"""
        import time
        from picfind.torchfile import load_state_dict
        started = time.perf_counter()
        state = load_state_dict({str(zip_bomb)!r})
        print(state["w"].tolist(), time.perf_counter() - started)
        """
    )
    values, seconds = out.split("] ")
    assert values == "[0.0"
    assert float(seconds) < 1.0
    assert rss < 300, f"peak RSS {rss:.0f} MB"


def test_attack_weights_zip_storages_declaring_a_bomb(tmp_path: Path) -> None:
    """Storages may not declare far more bytes than a (deflated) archive holds."""
    storage = _Storage("0", 2**26)  # 256 MiB of zeros, 250 KB deflated
    state = state_pickle({"w": _Tensor(storage, 0, (1,), (1,))}, legacy=False)
    path = tmp_path / "declared.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("archive/data.pkl", state)
        zf.writestr("archive/data/0", bytes(4 * 2**26))
    with pytest.raises(ModelError, match="storages declare 268435456 bytes"):
        load_state_dict(path)


def _build_pickle(target: bytes, state: bytes) -> bytes:
    """``GLOBAL target; state; BUILD; STOP``: set the state of an allowed global."""
    return b"\x80\x02c" + target + b"\n" + state + b"b."


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def test_attack_weights_build_rewrites_the_allowed_function(tmp_path: Path) -> None:
    """BUILD with a slot state on ``_rebuild_tensor_v2`` set its ``__name__`` and
    ``__defaults__`` for the rest of the process."""
    function = torchfile._rebuild_tensor_v2
    name, defaults = function.__name__, function.__defaults__
    slots = b"}(" + _utf8("__name__") + _utf8("pwned")
    slots += _utf8("__defaults__") + b"(K\x07tu"
    state = _build_pickle(b"torch._utils\n_rebuild_tensor_v2", b"N" + slots + b"\x86")
    path = legacy_pth(tmp_path / "b.pth", state, [])
    with pytest.raises(ModelError, match=r"sets the state of a function \(pickle BUILD\)"):
        load_state_dict(path)
    assert (name, defaults) == ("_rebuild_tensor_v2", (False, None, None))
    assert (function.__name__, function.__defaults__) == (name, defaults)


@pytest.mark.parametrize(
    "target",
    [b"torch\nFloatStorage", b"collections\nOrderedDict", b"torch._utils\n_rebuild_parameter"],
)
def test_attack_weights_build_rewrites_frozen_stand_ins(tmp_path: Path, target: bytes) -> None:
    """BUILD with a dict state wrote into the frozen storage-type stand-in's __dict__."""
    state = _build_pickle(target, b"}(" + _utf8("dtype") + _utf8("<f8") + b"u")
    with pytest.raises(ModelError, match=r"pickle BUILD"):
        load_state_dict(legacy_pth(tmp_path / "f.pth", state, []))
    assert torchfile._STORAGE_DTYPES["FloatStorage"] == np.dtype("<f4")


def test_weights_build_on_the_state_dict_is_allowed(tmp_path: Path) -> None:
    """The one BUILD the format uses: a state dict's ``_metadata`` (dropped)."""
    storage = _Storage("0", 1)
    plain = state_pickle({"w": _Tensor(storage, 0, (1,), (1,))})
    assert plain.endswith(b"u.") or plain.endswith(b"s.")
    meta = b"}(" + _utf8("_metadata") + b"}u"
    state = plain[:-1] + meta + b"b."
    loaded = load_state_dict(legacy_pth(tmp_path / "m.pth", state, [(storage, FLOAT_ONE)]))
    assert loaded["w"].tolist() == [1.0]


def test_attack_weights_every_malformation_is_a_model_error(tmp_path: Path) -> None:
    """Every single-byte corruption of a small legacy and zip file: a result or a
    ModelError, never another exception (was MemoryError, OverflowError, ValueError…)."""
    storage = _Storage("0", 6)
    tensors = {"a": _Tensor(storage, 0, (2, 3), (3, 1))}
    raw = np.arange(6, dtype="<f4").tobytes()
    legacy = legacy_pth(tmp_path / "ok.pth", state_pickle(tensors), [(storage, raw)]).read_bytes()
    zipped = tmp_path / "ok.pt"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("archive/data.pkl", state_pickle(tensors, legacy=False))
        zf.writestr("archive/data/0", raw)
    variants = 0
    for original in (legacy, zipped.read_bytes()):
        for i in range(len(original)):
            for value in (0xFF, original[i] ^ 0x01):
                data = bytearray(original)
                data[i] = value
                path = tmp_path / "bad.pth"
                path.write_bytes(bytes(data))
                with contextlib.suppress(ModelError):
                    load_state_dict(path)
                variants += 1
    assert variants > 1000
