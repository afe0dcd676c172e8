"""Convert MediaPipe's face detectors and face mesh from `.tflite` to `.npz` for `aujax.detect`.

Run once, by a maintainer, when the shipped weights are to be regenerated::

    python -m tools.convert_mediapipe                 # downloads the wheel with pip
    python -m tools.convert_mediapipe --wheel W.whl   # or takes a wheel already on disk
    python -m tools.convert_mediapipe --tflite-dir D  # or the three .tflite files in a folder
                                                      # (tests/data/mediapipe holds them)

It takes the Apache-2.0 models inside the ``mediapipe==0.10.14`` wheel (the last line of
releases that bundles them; see ``aujax/detect/assets/NOTICE``):

- ``face_detection_short_range.tflite`` (BlazeFace, 128 px, 896 anchors),
- ``face_detection_full_range_sparse.tflite`` (BlazeFace full range, 192 px, 2304 anchors,
  sparse fp16 weights),
- ``face_landmark.tflite`` (face mesh, 192 px crop -> 468 x 3 + face flag),

and writes one ``.npz`` per model into ``aujax/detect/assets/``. The tensors are read with
``ai-edge-litert`` (the TFLite interpreter, in the ``test`` extra): the interpreter is built
without delegates and with every tensor preserved, invoked once, and the weights are read
back *after* the model's own DEQUANTIZE / DENSIFY ops ran, so fp16 storage and sparsity are
undone exactly as the runtime undoes them. Weights that fp16 represents exactly are stored
as fp16 (all of them, for these models), so the files are bit-exact and half the size.

Each ``.npz`` holds, in the model's execution order, one entry per operation that carries
weights or structure (``op000_CONV_2D_w``, ``op000_CONV_2D_b``, ``op003_PAD_pads``, ...) and a
``program`` string: one line per operation (``kind stride padding activation inputs ->
output``) that ``aujax.detect`` checks its NNX networks against when it loads the file.
"""

from __future__ import annotations

import argparse
import hashlib
import pathlib
import subprocess
import sys
import tempfile
import zipfile

import numpy as np


WHEEL = "mediapipe==0.10.14"
MODELS = {
    "face_detection_short_range": "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    "face_detection_full_range": (
        "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite"
    ),
    "face_landmark": "mediapipe/modules/face_landmark/face_landmark.tflite",
}
ASSETS = pathlib.Path(__file__).resolve().parents[1] / "aujax" / "detect" / "assets"
# Operations whose outputs are weights (they run once, on constants) and are folded away.
_WEIGHT_OPS = ("DEQUANTIZE", "DENSIFY")
_STRUCTURE_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "PRELU",
    "RELU",
    "ADD",
    "PAD",
    "MAX_POOL_2D",
    "RESIZE_BILINEAR",
    "DEPTH_TO_SPACE",
    "RESHAPE",
    "CONCATENATION",
)


def _options(model_bytes: bytes) -> list[dict]:
    """Per-operator builtin options (stride, padding, fused activation), from the flatbuffer."""
    import tflite

    model = tflite.Model.GetRootAsModel(model_bytes, 0)
    graph = model.Subgraphs(0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    acts = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
    pads = {v: k for k, v in vars(tflite.Padding).items() if not k.startswith("_")}
    out = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        raw = op.BuiltinOptions()
        opt: dict = {"kind": name}
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            o = tflite.Conv2DOptions() if name == "CONV_2D" else tflite.DepthwiseConv2DOptions()
            o.Init(raw.Bytes, raw.Pos)
            opt |= {
                "stride": o.StrideW(),
                "padding": pads[o.Padding()],
                "act": acts[o.FusedActivationFunction()],
            }
            if o.StrideW() != o.StrideH() or o.DilationWFactor() != 1:
                raise ValueError(f"op {i}: unsupported stride/dilation")
        elif name == "ADD":
            o = tflite.AddOptions()
            o.Init(raw.Bytes, raw.Pos)
            opt["act"] = acts[o.FusedActivationFunction()]
        elif name == "MAX_POOL_2D":
            o = tflite.Pool2DOptions()
            o.Init(raw.Bytes, raw.Pos)
            opt |= {"stride": o.StrideW(), "padding": pads[o.Padding()], "size": o.FilterWidth()}
        elif name == "RESIZE_BILINEAR":
            o = tflite.ResizeBilinearOptions()
            o.Init(raw.Bytes, raw.Pos)
            if o.AlignCorners() or not o.HalfPixelCenters():
                raise ValueError(f"op {i}: RESIZE_BILINEAR must use half-pixel centres")
        elif name == "DEPTH_TO_SPACE":
            o = tflite.DepthToSpaceOptions()
            o.Init(raw.Bytes, raw.Pos)
            opt["block"] = o.BlockSize()
        elif name == "CONCATENATION":
            o = tflite.ConcatenationOptions()
            o.Init(raw.Bytes, raw.Pos)
            opt |= {"axis": o.Axis(), "act": acts[o.FusedActivationFunction()]}
        out.append(opt)
    return out


def convert(tflite_path: pathlib.Path) -> dict[str, np.ndarray]:
    """Read one model into the ``.npz`` entries described in the module docstring."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    data = tflite_path.read_bytes()
    options = _options(data)
    interp = Interpreter(
        model_content=data,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    interp.allocate_tensors()
    (inp,) = interp.get_input_details()
    interp.set_tensor(inp["index"], np.zeros(inp["shape"], np.float32))
    interp.invoke()
    details = {t["index"]: t for t in interp.get_tensor_details()}
    produced = {inp["index"]}
    names = {inp["index"]: "input"}
    entries: dict[str, np.ndarray] = {}
    program = ["input " + "x".join(str(s) for s in inp["shape"])]
    for op in interp._get_ops_details():  # noqa: SLF001 - the public API has no op list
        kind = op["op_name"]
        opt = options[op["index"]]
        if opt["kind"] != kind:
            raise ValueError(f"op {op['index']}: {kind} vs flatbuffer {opt['kind']}")
        if kind in _WEIGHT_OPS:
            continue
        if kind not in _STRUCTURE_OPS:
            raise ValueError(f"{tflite_path.name}: op {op['index']} {kind} is not supported")
        k = len(program) - 1
        tag = f"op{k:03d}_{kind}"
        inputs = [int(i) for i in op["inputs"] if i >= 0]
        flowing = [names[i] for i in inputs if i in produced]
        consts = [i for i in inputs if i not in produced]
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w, b = (interp.get_tensor(i) for i in consts)
            entries[f"{tag}_w"] = _compact(w)
            entries[f"{tag}_b"] = _compact(b)
        elif kind == "PRELU":
            entries[f"{tag}_alpha"] = _compact(interp.get_tensor(consts[0]))
        elif kind == "PAD":
            pads = interp.get_tensor(consts[0]).astype(np.int32)
            entries[f"{tag}_pads"] = pads
            opt = opt | {"pads": ";".join(",".join(map(str, p)) for p in pads.tolist())}
        (out,) = (int(i) for i in op["outputs"])
        produced.add(out)
        names[out] = f"t{k}"
        shape = "x".join(str(s) for s in details[out]["shape"])
        attrs = " ".join(f"{key}={val}" for key, val in opt.items() if key != "kind")
        program.append(f"{tag} {attrs} {','.join(flowing)} -> t{k} {shape}".replace("  ", " "))
    outputs = [names[d["index"]] for d in interp.get_output_details()]
    program.append("outputs " + ",".join(outputs))
    entries["program"] = np.array("\n".join(program))
    entries["sha256"] = np.array(hashlib.sha256(data).hexdigest())
    return entries


def _compact(a: np.ndarray) -> np.ndarray:
    """fp16 when that is exact, else float32."""
    a = np.asarray(a, np.float32)
    h = a.astype(np.float16)
    return h if np.array_equal(h.astype(np.float32), a) else a


def _wheel(path: str | None, tmp: pathlib.Path) -> pathlib.Path:
    if path:
        return pathlib.Path(path)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d", str(tmp)], check=True
    )
    (whl,) = tmp.glob("mediapipe-*.whl")
    return whl


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", help=f"a downloaded {WHEEL} wheel (default: pip download)")
    parser.add_argument("--tflite-dir", help="a folder holding the three .tflite files")
    parser.add_argument("--out", default=str(ASSETS), help="output folder")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.tflite_dir:
            sources = {
                n: pathlib.Path(args.tflite_dir) / pathlib.Path(m).name for n, m in MODELS.items()
            }
        else:
            whl = _wheel(args.wheel, pathlib.Path(tmp))
            sources = {}
            with zipfile.ZipFile(whl) as zf:
                for name, member in MODELS.items():
                    sources[name] = pathlib.Path(tmp) / pathlib.Path(member).name
                    sources[name].write_bytes(zf.read(member))
        for name, src in sources.items():
            entries = convert(src)
            np.savez_compressed(out / f"{name}.npz", **entries)
            n = sum(v.size for k, v in entries.items() if k.startswith("op"))
            print(f"{name}: {n:,} weights, {len(str(entries['program']).splitlines())} ops")


if __name__ == "__main__":
    main()
