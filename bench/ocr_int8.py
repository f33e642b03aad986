"""Would an int8 detector pay? ONNX Runtime's quantisations of PP-OCRv6's detector, measured.

``python bench/ocr_int8.py [--calibration N] [--out FILE]`` builds two int8
copies of the bundled detector in a temporary folder: dynamic (weights only;
convolutions become ConvInteger) and static QDQ (weights and activations,
calibrated on N catsdogs photos and N rendered text photos of another seed than
the benchmark's, N = 40). For each, and for the float32 original, it measures
CPU seconds per detection at 640×480 and the read-back on the rendered set
(bench/ocr.py's measure). Results are merged into bench/results/ocr.json
under ``int8``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import ocr  # noqa: E402  (bench/ocr.py)
import textphotos  # noqa: E402

from picfind.imaging import open_image  # noqa: E402
from picfind.ocr import Reader, detect  # noqa: E402
from picfind.ocr.bundle import ModelFiles, model_files  # noqa: E402


def calibration_inputs(folder: Path, count: int) -> list[np.ndarray]:
    photos = sorted((ocr.SHARED / "data" / "catsdogs").glob("*.jpg"))[500 : 500 + count]
    truth = textphotos.generate(folder, count=count, seed=99)
    inputs = []
    for path in [*photos, *(folder / p.file for p in truth)]:
        rgb = np.asarray(open_image(path))
        x, _, _ = detect.detector_input(np.ascontiguousarray(rgb[:, :, ::-1]), 640)
        inputs.append(x)
    return inputs


def quantise(source: Path, folder: Path, calibration: int) -> dict[str, Path]:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    inputs = calibration_inputs(folder / "calibration", calibration)

    class Reader_(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.it = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self.it, None)
            return None if x is None else {"x": x}

    prepared = folder / "prepared.onnx"
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    dynamic, static = folder / "dynamic.onnx", folder / "static_qdq.onnx"
    quantize_dynamic(str(prepared), str(dynamic), weight_type=QuantType.QUInt8)
    quantize_static(
        str(prepared),
        str(static),
        Reader_(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    return {"float32": source, "int8_dynamic": dynamic, "int8_static_qdq": static}


def detection_cpu_seconds(reader: Reader, runs: int = 20) -> float:
    x = np.random.default_rng(0).random((1, 3, 480, 640), dtype=np.float32) * 2 - 1
    session = reader._detector  # the one session this bench is about
    session.run(None, {"x": x})
    started = time.process_time()
    for _ in range(runs):
        session.run(None, {"x": x})
    return (time.process_time() - started) / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", type=int, default=40, help="photos of each kind")
    parser.add_argument("--out", type=Path, default=ocr.RESULTS)
    args = parser.parse_args()
    bundled = model_files()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        variants = quantise(bundled.detector, Path(tmp), args.calibration)
        for name, path in variants.items():
            files = ModelFiles(path, bundled.recogniser, bundled.classifier)
            try:
                reader = Reader.load(files=files, threads=2)
            except Exception as e:  # ORT refuses a graph: say so, measure the others
                out[name] = {"error": str(e).splitlines()[0][:400]}
                print(name, json.dumps(out[name]), flush=True)
                continue
            seconds = detection_cpu_seconds(reader)
            text = ocr.rendered(reader, workers=1)
            out[name] = {
                "detector_bytes": path.stat().st_size,
                "detection_cpu_seconds_640x480": round(seconds, 4),
                "rendered_found": text["found"],
                "rendered_recall_at_10": text["recall_at_10"],
                "rendered_cpu_seconds_per_photo": text["cpu_seconds_per_photo"],
                "rendered_found_by_size": {
                    k: v["found"] for k, v in text["by_size_px_on_800"].items()
                },
            }
            print(name, json.dumps(out[name]), flush=True)
            ocr.merge(args.out, "int8", {**out, "load_average": os.getloadavg()})
    ocr.merge(args.out, "int8", {**out, "load_average": os.getloadavg()})


if __name__ == "__main__":
    main()
