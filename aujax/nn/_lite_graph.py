"""An NNX network that runs a convolutional op program recorded from a TFLite model.

MediaPipe's face networks (BlazeFace short and full range, the 468-point face mesh) are small
convolutional graphs built from a dozen operations. ``tools.convert_mediapipe`` records each
model's graph as a *program* — one line per operation, in the model's execution order, with its
stride, padding, fused activation, input and output tensors — and its weights as arrays
(``op012_CONV_2D_w`` ...). :class:`LiteGraph` rebuilds that graph as an NNX module: every
weight is an :class:`flax.nnx.Param` (so the network can be fine-tuned, sharded, checkpointed
like any other), and ``__call__`` is the program, traced once under ``jit`` and batched over the
leading axis. Printing ``LiteGraph.program`` shows the architecture layer by layer.

Operations (TFLite semantics, NHWC):

- ``CONV_2D`` (kernel ``O H W I``) and ``DEPTHWISE_CONV_2D`` (kernel ``1 H W C``), ``SAME`` or
  ``VALID`` padding (TFLite's ``SAME`` pads ``total // 2`` before, the rest after, as ``lax``
  does), with a fused ``NONE`` / ``RELU`` / ``RELU6`` activation;
- ``PRELU`` (per-channel slopes), ``RELU``, ``ADD`` (fused activation), ``PAD`` (explicit pads),
  ``MAX_POOL_2D``, ``RESIZE_BILINEAR`` (half-pixel centres), ``DEPTH_TO_SPACE``, ``RESHAPE``
  (batch kept), ``CONCATENATION``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, Float


_LINE = re.compile(r"^(op\d{3}_([A-Z0-9_]+))((?: \w+=\S+)*) (\S+) -> (t\d+) ([\dx]+)$")
_ACTS = {
    "NONE": lambda x: x,
    "RELU": jax.nn.relu,
    "RELU6": jax.nn.relu6,
}


@dataclasses.dataclass(frozen=True)
class LiteOp:
    """One recorded operation.

    Attributes:
        tag: ``opNNN_KIND``, the prefix of its weights.
        kind: the TFLite builtin operator name.
        attrs: its options (``stride``, ``padding``, ``act``, ``pads``, ``axis``, ``block``).
        inputs: names of the tensors it reads (``input`` or ``tK``).
        output: name of the tensor it writes.
        shape: the output's shape at batch 1.
    """

    tag: str
    kind: str
    attrs: tuple[tuple[str, str], ...]
    inputs: tuple[str, ...]
    output: str
    shape: tuple[int, ...]

    def attr(self, key: str, default: str | None = None) -> str:
        for k, v in self.attrs:
            if k == key:
                return v
        if default is None:
            raise KeyError(f"{self.tag} has no attribute {key!r}")
        return default


def parse_program(
    program: str,
) -> tuple[tuple[LiteOp, ...], tuple[str, ...], tuple[int, int, int]]:
    """Parses a recorded program: its operations, output tensor names and input (h, w, c).

    Raises:
        ValueError: naming the line that does not follow the format.
    """
    ops, outputs, shape = [], None, None
    for n, line in enumerate(program.strip().splitlines(), start=1):
        if line.startswith("input "):
            shape = tuple(map(int, line.split()[1].split("x")))[1:]
            continue
        if line.startswith("outputs "):
            outputs = tuple(line.split()[1].split(","))
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(
                f"program line {n} is not 'opNNN_KIND [k=v ...] in -> tK shape': {line!r}"
            )
        tag, kind, attrs, ins, out, out_shape = m.groups()
        pairs = tuple(tuple(a.split("=", 1)) for a in attrs.split())
        ops.append(
            LiteOp(
                tag, kind, pairs, tuple(ins.split(",")), out, tuple(map(int, out_shape.split("x")))
            )
        )
    if outputs is None or shape is None:
        raise ValueError("program needs an 'input' and an 'outputs' line")
    return tuple(ops), outputs, shape


class LiteGraph(nnx.Module):
    """A recorded TFLite convolutional graph as an NNX module (see the module docstring).

    Args:
        program: the recorded program (one operation per line, then ``outputs ...``).
        weights: ``{tag_w, tag_b, tag_alpha, tag_pads}`` arrays named by operation tag.
        dtype: parameter and compute dtype.

    Raises:
        ValueError: a weight is missing or has a shape its operation cannot use.
    """

    def __init__(
        self, program: str, weights: Mapping[str, np.ndarray], *, dtype=jnp.float32
    ) -> None:
        self.program = str(program)
        self.ops, self.outputs, self.input_shape = parse_program(self.program)
        params = {}
        for op in self.ops:
            if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                w = np.asarray(_weight(weights, f"{op.tag}_w"), np.float32)
                b = np.asarray(_weight(weights, f"{op.tag}_b"), np.float32)
                if w.ndim != 4 or b.shape != (w.shape[0] if op.kind == "CONV_2D" else w.shape[3],):
                    raise ValueError(f"{op.tag}: kernel {w.shape} and bias {b.shape} do not match")
                # lax wants HWIO; a depthwise kernel 1HWC becomes HW1C with C groups.
                hwio = w.transpose(1, 2, 3, 0) if op.kind == "CONV_2D" else w.transpose(1, 2, 0, 3)
                params[f"{op.tag}_w"] = nnx.Param(jnp.asarray(hwio, dtype))
                params[f"{op.tag}_b"] = nnx.Param(jnp.asarray(b, dtype))
            elif op.kind == "PRELU":
                alpha = np.asarray(_weight(weights, f"{op.tag}_alpha"), np.float32)
                params[f"{op.tag}_alpha"] = nnx.Param(jnp.asarray(alpha.reshape(-1), dtype))
        self.params = nnx.Dict(params)
        self.dtype = dtype

    def __call__(self, x: Float[Array, "b h w c"]) -> tuple[Float[Array, "b ..."], ...]:
        """Runs the program on a batch; returns the recorded outputs, in order."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"input must be (batch, {self.input_shape}), got {x.shape}")
        env = {"input": x.astype(self.dtype)}
        for op in self.ops:
            env[op.output] = self._run(op, [env[name] for name in op.inputs])
        return tuple(env[name] for name in self.outputs)

    def _run(self, op: LiteOp, xs: list[Array]) -> Array:
        p = self.params
        kind = op.kind
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            (x,) = xs
            w = p[f"{op.tag}_w"][...]
            s = int(op.attr("stride"))
            if kind == "DEPTHWISE_CONV_2D":
                y = _depthwise(x, w[:, :, 0, :], s, op.attr("padding"))
            elif w.shape[:2] == (1, 1) and s == 1:
                y = jnp.einsum("bhwi,io->bhwo", x, w[0, 0])  # 1x1: a matrix product
            else:  # im2col: the kh * kw shifted slices side by side, then one matrix product
                taps = _taps(x, w.shape[0], w.shape[1], s, op.attr("padding"))
                y = jnp.einsum(
                    "bhwi,io->bhwo", jnp.concatenate(taps, -1), w.reshape(-1, w.shape[-1])
                )
            return _ACTS[op.attr("act")](y + _channels(p[f"{op.tag}_b"][...]))
        if kind == "PRELU":
            (x,) = xs
            return jnp.where(x >= 0, x, x * _channels(p[f"{op.tag}_alpha"][...]))
        if kind == "RELU":
            return jax.nn.relu(xs[0])
        if kind == "ADD":
            return _ACTS[op.attr("act")](xs[0] + xs[1])
        if kind == "PAD":
            pads = [tuple(map(int, q.split(","))) for q in op.attr("pads").split(";")]
            return jnp.pad(xs[0], pads)
        if kind == "MAX_POOL_2D":
            return _max_pool(xs[0], int(op.attr("size")), int(op.attr("stride")), op.shape)
        if kind == "RESIZE_BILINEAR":
            x = xs[0]
            return jax.image.resize(x, (x.shape[0], *op.shape[1:]), "bilinear")
        if kind == "DEPTH_TO_SPACE":
            x = xs[0]
            n, h, w, c = x.shape
            bs = int(op.attr("block"))
            y = x.reshape(n, h, w, bs, bs, c // bs**2).transpose(0, 1, 3, 2, 4, 5)
            return y.reshape(n, h * bs, w * bs, c // bs**2)
        if kind == "RESHAPE":
            return xs[0].reshape(xs[0].shape[0], *op.shape[1:])
        if kind == "CONCATENATION":
            return _ACTS[op.attr("act")](jnp.concatenate(xs, axis=int(op.attr("axis"))))
        raise ValueError(f"{op.tag}: operation {kind} is not supported")


def _weight(weights: Mapping[str, np.ndarray], key: str) -> np.ndarray:
    if key not in weights:
        raise ValueError(f"weights have no {key!r} (needed by the program)")
    return weights[key]


def _max_pool(x: Array, size: int, stride: int, out_shape: tuple[int, ...]) -> Array:
    """Non-overlapping max pooling (window = stride) as an elementwise max of strided slices.

    TFLite's ``SAME`` pads the far edge only, and only for odd sizes; padded cells never win.
    Written this way on purpose: ``lax.reduce_window`` and a reshape-and-max both gave wrong
    maxima (errors of 4 on values of 10) inside the jit-compiled short-range BlazeFace graph
    with jax 0.10.2 on CPU, while eager execution and these strided slices agree with TFLite
    (``tests/test_detect_networks.py`` checks the jit-compiled graphs against the TFLite
    interpreter on real photographs).
    """
    if size != stride:
        raise ValueError(f"MAX_POOL_2D with window {size} != stride {stride} is not supported")
    n, h, w, c = x.shape
    oh, ow = out_shape[1:3]
    pad = ((0, 0), (0, max(0, oh * size - h)), (0, max(0, ow * size - w)), (0, 0))
    x = jnp.pad(x, pad, constant_values=-jnp.inf)[:, : oh * size, : ow * size]
    out = x[:, 0::size, 0::size]
    for i in range(size):
        for j in range(size):
            if i or j:
                out = jnp.maximum(out, x[:, i::size, j::size])
    return out


def _taps(x: Array, kh: int, kw: int, stride: int, padding: str) -> list[Array]:
    """The kh * kw shifted, strided slices of ``x`` (B, H, W, C) that a kh x kw convolution
    with TFLite's ``SAME`` / ``VALID`` padding sums over, in kernel (row, column) order."""
    _, h, wd, _ = x.shape
    if padding == "SAME":
        oh, ow = -(-h // stride), -(-wd // stride)
        ph = max((oh - 1) * stride + kh - h, 0)
        pw = max((ow - 1) * stride + kw - wd, 0)
        x = jnp.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    return [
        x[:, i : i + (oh - 1) * stride + 1 : stride, j : j + (ow - 1) * stride + 1 : stride]
        for i in range(kh)
        for j in range(kw)
    ]


def _depthwise(x: Array, w: Array, stride: int, padding: str) -> Array:
    """Depthwise convolution as a sum of shifted, strided slices times per-channel taps.

    The same sum as ``lax.conv_general_dilated(..., feature_group_count=C)`` (TFLite's ``SAME``
    and ``VALID`` padding), written as kh * kw fused multiply-adds: XLA's CPU backend runs grouped
    convolutions an order of magnitude slower than these elementwise ops.

    Args:
        x: (B, H, W, C) input.
        w: (kh, kw, C) taps.
    """
    kh, kw, _ = w.shape
    out = None
    for k, tap in enumerate(_taps(x, kh, kw, stride, padding)):
        term = tap * _channels(w[k // kw, k % kw])
        out = term if out is None else out + term
    return out


def _channels(v: Array) -> Array:
    """(C,) -> (1, 1, 1, C): per-channel values against NHWC tensors, without rank promotion."""
    return v.reshape(1, 1, 1, -1)
