"""The quantized model artifact: what training exports and every later stage consumes.

A model directory holds::

    model.yaml    topology (IR), quantization (input frac + one entry per hardware stage), preprocessing
                  (per-channel, of raw samples: sustainml.board.preprocess), metrics
    weights.npz   integer weights/biases: ``s{i}_w`` and ``s{i}_b`` for stage i

Stages are the hardware library's modules, derived from the IR with BatchNorm folded and
ReLU fused into the requantization of the preceding compute layer. A depthwise-separable
layer becomes two stages (``dwconv1d`` then ``pwconv1d``).

Arithmetic of a compute stage (integers only; this is the golden contract)::

    acc = bias + sum(x * w)                              # ap_int<acc_bits>, see "Accumulator overflow"
    y   = round_half_even(acc / 2**shift)                # arithmetic right shift
    y   = max(y, 0) if relu                              # fused ReLU
    y   = clip(y, out_min, out_max)                      # out_bits, signed unless relu

Accumulator overflow (``Stage.acc_overflow``; A = ``acc_bits``, R = [-2**(A-1), 2**(A-1) - 1])::

    wrap      acc = wrap_A(bias + sum(x * w))            two's complement modulo 2**A (the default)
    saturate  acc_0     = sat_A(bias)                    sat_A(v) = min(max(v, -2**(A-1)), 2**(A-1) - 1)
              acc_{j+1} = sat_A(acc_j + p_j)             j = 0 .. steps-1, one fold step per cycle
              acc       = acc_steps

``wrap`` is modular, so it does not depend on the summation order or the unrolling: only the
final sum matters, and a width that holds the final sum's range is exact. ``saturate`` clips at
every fold step, which is what a narrow hardware accumulator can do (an order-free clip of the
exact sum would need the full-width sum first), so **its result depends on SIMD and KP and on the
fold order** (never on PE: each output channel has its own accumulator). ``p_j`` is the exact
(unbounded) sum of the products of fold step j, formed by an adder tree wide enough never to
overflow. The fold steps of one output, in order:

    conv1d    for cf in range(in_ch / simd): for kf in range(kernel / kp):        (channel blocks outer)
                  p = sum_{kk < kp, ss < simd} x[kf*kp + kk][cf*simd + ss] * w[kf*kp + kk][cf*simd + ss][o]
    dwconv1d  for kf in range(kernel / kp):  p = sum_{kk < kp} x[kf*kp + kk][c] * w[kf*kp + kk][c]
    pwconv1d  for cf in range(in_ch / simd): p = sum_{ss < simd} x[cf*simd + ss] * w[cf*simd + ss][o]
    dense     for cf in range(nin / simd):   p = sum_{ss < simd} x[cf*simd + ss] * w[cf*simd + ss][o]
              (x flattened time-major, nin = in_len * in_ch)

(x[k][c]: tap k of the stage's zero-padded input window.) When no running sum ever leaves R,
both modes equal the exact sum; widths from ``nas/accumulators.py``'s ``bound`` mode guarantee
that for every input. The golden model (nas/golden.py), the HLS library
(hls/include/sustainml/accumulate.h) and the Verilog library implement this bit for bit.

Average pooling (``avgpool1d``, ``gap1d``): ``y = clip(round_half_even(sum * avg_mult / 2**16))``
with ``avg_mult = round(2**16 / window)``. Max pooling: the integer maximum.
Weight layouts: conv1d (K, Cin, Cout); dwconv1d (K, C); pwconv1d (Cin, Cout); dense
(Nin, Nout) with Nin flattened time-major (t * C + c).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import yaml

from sustainml.yamlio import plain

from .topology import Topology, TopologyError

AVG_SHIFT = 16
#: ``Stage.acc_overflow`` values (module docstring: "Accumulator overflow").
ACC_OVERFLOW = ("wrap", "saturate")
COMPUTE_KINDS = ("conv1d", "dwconv1d", "pwconv1d", "dense")
STAGE_KINDS = COMPUTE_KINDS + ("maxpool1d", "avgpool1d", "gap1d")


def avg_mult(window: int) -> int:
    """Multiplier that turns a window sum into its average: round(2**16 / window)."""
    return int(round((1 << AVG_SHIFT) / window))


@dataclass
class Stage:
    """One hardware module instance of the DNNU pipeline."""

    kind: str
    layer: int  # index of the IR layer it implements
    in_len: int
    in_ch: int
    in_bits: int
    in_signed: bool
    out_len: int
    out_ch: int
    out_bits: int
    out_signed: bool
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    relu: bool = False
    w_bits: int = 0
    shift: int = 0
    acc_bits: int = 32
    acc_overflow: str = "wrap"  # "wrap" | "saturate" (see the module docstring)
    pe: int = 1  # unrolling over output channels / neurons
    simd: int = 1  # unrolling over input channels (dense: input features)
    kp: int = 1  # unrolling over kernel taps
    in_frac: int = 0
    out_frac: int = 0
    w_frac: int = 0

    @property
    def is_compute(self) -> bool:
        return self.kind in COMPUTE_KINDS

    @property
    def out_min(self) -> int:
        return -(1 << (self.out_bits - 1)) if self.out_signed else 0

    @property
    def out_max(self) -> int:
        return (1 << (self.out_bits - 1)) - 1 if self.out_signed else (1 << self.out_bits) - 1

    @property
    def window(self) -> int:
        """Pooling window (gap1d: the whole input length)."""
        return self.in_len if self.kind == "gap1d" else self.kernel

    @property
    def avg_mult(self) -> int:
        return avg_mult(self.window)

    @property
    def macs(self) -> int:
        if self.kind == "conv1d":
            return self.out_len * self.kernel * self.in_ch * self.out_ch
        if self.kind == "dwconv1d":
            return self.out_len * self.kernel * self.in_ch
        if self.kind == "pwconv1d":
            return self.out_len * self.in_ch * self.out_ch
        if self.kind == "dense":
            return self.in_len * self.in_ch * self.out_ch
        return 0

    @property
    def weight_shape(self) -> tuple:
        """Shape of a compute stage's weight array (the layouts in the module docstring)."""
        return {"conv1d": (self.kernel, self.in_ch, self.out_ch), "dwconv1d": (self.kernel, self.in_ch),
                "pwconv1d": (self.in_ch, self.out_ch), "dense": (self.in_len * self.in_ch, self.out_ch)}[self.kind]

    @property
    def reduction(self) -> int:
        """Number of products summed into one accumulator."""
        return {"conv1d": self.kernel * self.in_ch, "dwconv1d": self.kernel, "pwconv1d": self.in_ch,
                "dense": self.in_len * self.in_ch}.get(self.kind, 0)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class QuantizedModel:
    """Topology + integer parameters + per-stage quantization + metrics."""

    topology: Topology
    input_frac: int
    stages: List[Stage]
    weights: Dict[str, np.ndarray]
    metrics: Dict[str, Any] = field(default_factory=dict)
    #: per-channel preprocessing of raw samples (sustainml.board.preprocess spec), applied before quantize_input
    preprocessing: Dict[str, Any] = field(default_factory=lambda: {"method": "none"})

    def w(self, i: int) -> np.ndarray:
        return self.weights[f"s{i}_w"]

    def b(self, i: int) -> Optional[np.ndarray]:
        return self.weights.get(f"s{i}_b")

    @property
    def input_bits(self) -> int:
        return self.topology.input.bits

    @property
    def output_bits(self) -> int:
        return self.stages[-1].out_bits

    @property
    def output_frac(self) -> int:
        return self.stages[-1].out_frac

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float samples (N, L, C) or (N, L) → integers at the input width (round half even)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2:
            x = x[:, :, None]
        lo, hi = -(1 << (self.input_bits - 1)), (1 << (self.input_bits - 1)) - 1
        return np.clip(np.round(x * 2.0 ** self.input_frac), lo, hi).astype(np.int64)

    # ------------------------------------------------------------------ storage
    def save(self, out_dir: Union[str, Path]) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        doc = {
            "format": "sustainml-model/1",
            "topology": self.topology.to_dict(),
            "quantization": {"input_frac": self.input_frac, "stages": [s.to_dict() for s in self.stages]},
            "preprocessing": plain(self.preprocessing),
            "metrics": plain(self.metrics),
        }
        tmp = out / "weights.tmp.npz"
        np.savez(tmp, **{k: np.asarray(v, dtype=np.int64) for k, v in self.weights.items()})
        tmp.replace(out / "weights.npz")
        (out / "model.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        return out

    @classmethod
    def load(cls, model_dir: Union[str, Path]) -> "QuantizedModel":
        d = Path(model_dir)
        if not (d / "model.yaml").exists():
            raise TopologyError(f"{d}: not a model directory (no model.yaml)")
        if not (d / "weights.npz").exists():
            raise TopologyError(f"{d}: model.yaml without weights.npz")
        doc = yaml.safe_load((d / "model.yaml").read_text())
        topo = Topology.from_dict(doc.get("topology"), str(d / "model.yaml"))
        q = doc.get("quantization") or {}
        names = {f.name for f in fields(Stage)}
        stages = [Stage(**{k: v for k, v in s.items() if k in names}) for s in q.get("stages", [])]
        with np.load(d / "weights.npz") as npz:
            weights = {k: npz[k].astype(np.int64) for k in npz.files}
        return cls(topo, int(q["input_frac"]), stages, weights, doc.get("metrics") or {},
                   doc.get("preprocessing") or {"method": "none"})



def plan_stages(topology: Topology) -> List[Stage]:
    """The hardware stages of a topology (shapes, widths, kernels; fracs/shifts left at 0).

    BatchNorm disappears (folded), ReLU is fused into the preceding compute stage, and a
    DepthwiseSeparableConv1D becomes ``dwconv1d`` (output signed at the layer's act_bits)
    followed by ``pwconv1d``. Cost models can use this before any training.
    """
    from .topology import AvgPool1D, Conv1D, Dense, DepthwiseSeparableConv1D, GlobalAvgPool1D, MaxPool1D

    stages: List[Stage] = []
    outs = topology.shapes()
    cur = topology.input_shape()
    for i, (layer, out) in enumerate(zip(topology.layers, outs)):
        common = dict(layer=i, in_len=cur.length, in_ch=cur.channels, in_bits=cur.bits, in_signed=cur.signed)
        if isinstance(layer, Conv1D):
            stages.append(Stage("conv1d", out_len=out.length, out_ch=out.channels, out_bits=out.bits, out_signed=out.signed,
                                kernel=layer.kernel, stride=layer.stride, padding=layer.padding, relu=not out.signed,
                                w_bits=layer.weight_bits, **common))
        elif isinstance(layer, DepthwiseSeparableConv1D):
            stages.append(Stage("dwconv1d", out_len=out.length, out_ch=cur.channels, out_bits=layer.act_bits, out_signed=True,
                                kernel=layer.kernel, stride=layer.stride, padding=layer.padding, w_bits=layer.weight_bits, **common))
            stages.append(Stage("pwconv1d", layer=i, in_len=out.length, in_ch=cur.channels, in_bits=layer.act_bits, in_signed=True,
                                out_len=out.length, out_ch=out.channels, out_bits=out.bits, out_signed=out.signed,
                                relu=not out.signed, w_bits=layer.weight_bits))
        elif isinstance(layer, Dense):
            stages.append(Stage("dense", out_len=1, out_ch=out.channels, out_bits=out.bits, out_signed=out.signed,
                                relu=not out.signed, w_bits=layer.weight_bits, **common))
        elif isinstance(layer, (MaxPool1D, AvgPool1D)):
            kind = "avgpool1d" if isinstance(layer, AvgPool1D) else "maxpool1d"
            stages.append(Stage(kind, out_len=out.length, out_ch=out.channels, out_bits=out.bits, out_signed=out.signed,
                                kernel=layer.pool, stride=layer.step, **common))
        elif isinstance(layer, GlobalAvgPool1D):
            stages.append(Stage("gap1d", out_len=1, out_ch=out.channels, out_bits=out.bits, out_signed=out.signed, **common))
        cur = out
    return stages
