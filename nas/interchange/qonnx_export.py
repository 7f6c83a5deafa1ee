"""``sustainml export MODEL --format qonnx``: a QuantizedModel as a QONNX graph.

The graph computes exactly the golden model (``nas/golden.py``) on power-of-two scaled
values (``v = v_int * 2**-frac``, the convention of :mod:`sustainml.nas.interchange`), NCW
layout (``global_in``: ``(N, C, L)`` floats; ``global_out``: ``(N, classes)``):

* input: ``Quant(scale=2**-input_frac, bits=input bits, signed, ROUND)``;
* compute stage: weights and bias as float initializers through ``Quant`` nodes (weights at
  ``2**-w_frac``, ``w_bits``; bias at the accumulator's scale, ``acc_bits``), ``Conv`` (1D
  kernel, ``group=C`` for ``dwconv1d``, kernel 1 for ``pwconv1d``) or ``Flatten`` +
  ``MatMul`` + ``Add`` for ``dense`` (weight rows reordered from the hardware's time-major
  ``t*C + c`` to ONNX's channel-major flatten), then ``Relu`` if fused, then the
  requantization as ``Quant(scale=2**-(in_frac + w_frac - shift), out_bits, ROUND)``:
  QONNX's ROUND is numpy's round-half-even, the golden model's rounding;
* ``maxpool1d``: ``MaxPool``; ``avgpool1d``/``gap1d``: the window sum (``Conv`` with unit
  depthwise weights / ``ReduceSum``) times the hardware's multiplier ``avg_mult * 2**-16``
  in float64 (``Cast``), then ``Quant``. ``AveragePool`` divides by the window exactly, which is
  not what the hardware does (``avg_mult = round(2**16 / window)``), so it is not used.

Exactness: values are executed as float32, whose integers are exact up to 2**24; a model
whose accumulator bound exceeds that is refused. QONNX has no wrap-around: where a stage's
``acc_bits`` is narrower than its bound (a data-driven narrowing), the export warns that
the graph computes the unwrapped sum. The Topology IR travels in the model's metadata
(``sustainml.topology``) so that an import restores layer names and BatchNorm/ReLU entries.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import yaml

from ..quantized import AVG_SHIFT, QuantizedModel, Stage
from ..topology import TopologyError

QUANT_DOMAIN = "qonnx.custom_op.general"
OPSET = 13
EXACT_BITS = 24  # float32 holds every integer of magnitude < 2**24
META_TOPOLOGY, META_INPUT_FRAC, META_OUTPUT_FRAC = "sustainml.topology", "sustainml.input_frac", "sustainml.output_frac"


class ExportError(TopologyError):
    """The model cannot be written as an exact QONNX graph; the message names the stage."""


def onnx_weight(stage: Stage, w: np.ndarray) -> np.ndarray:
    """Our weight layout (nas/quantized.py) → the ONNX initializer's layout."""
    if stage.kind == "conv1d":  # (K, Cin, Cout) → (Cout, Cin, K)
        return np.transpose(w, (2, 1, 0))
    if stage.kind == "dwconv1d":  # (K, C) → (C, 1, K)
        return np.transpose(w, (1, 0))[:, None, :]
    if stage.kind == "pwconv1d":  # (Cin, Cout) → (Cout, Cin, 1)
        return np.transpose(w, (1, 0))[:, :, None]
    # dense (L*C time-major, Nout) → (C*L channel-major, Nout)
    return w.reshape(stage.in_len, stage.in_ch, stage.out_ch).transpose(1, 0, 2).reshape(-1, stage.out_ch)


def stage_weight(stage: Stage, w: np.ndarray) -> np.ndarray:
    """Inverse of :func:`onnx_weight`."""
    if stage.kind == "conv1d":
        return np.transpose(w, (2, 1, 0))
    if stage.kind == "dwconv1d":
        return np.transpose(w[:, 0, :], (1, 0))
    if stage.kind == "pwconv1d":
        return np.transpose(w[:, :, 0], (1, 0))
    return w.reshape(stage.in_ch, stage.in_len, stage.out_ch).transpose(1, 0, 2).reshape(-1, stage.out_ch)


def _bits(v: float) -> int:
    return max(1, int(math.ceil(math.log2(v + 1)))) if v > 0 else 0


class _Graph:
    def __init__(self) -> None:
        from onnx import helper

        self.h = helper
        self.nodes: List[Any] = []
        self.inits: List[Any] = []
        self.n = 0

    def name(self, base: str) -> str:
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, base: str, value: np.ndarray, dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: List[str], base: str, domain: str = "", **attrs: Any) -> str:
        out = self.name(base)
        self.nodes.append(self.h.make_node(op, inputs, [out], name=f"{op}_{out}", domain=domain, **attrs))
        return out

    def quant(self, x: str, frac: int, bits: int, signed: bool, base: str, dtype: Any = np.float32) -> str:
        ins = [x, self.const(f"{base}_scale", 2.0 ** -frac, dtype), self.const(f"{base}_zeropt", 0.0, dtype),
               self.const(f"{base}_bitwidth", float(bits), dtype)]
        return self.node("Quant", ins, base, domain=QUANT_DOMAIN, signed=int(signed), narrow=0, rounding_mode="ROUND")


def _check_exact(i: int, stage: Stage, bound: float) -> None:
    if _bits(bound) > EXACT_BITS:
        raise ExportError(f"stage {i} ({stage.kind}): its sums can reach 2**{_bits(bound)}, beyond the 2**{EXACT_BITS} "
                          "integers that float32 (QONNX execution) holds exactly")


def build(model: QuantizedModel) -> Tuple[Any, List[str]]:
    """The QONNX ``ModelProto`` of ``model`` and a list of warnings."""
    from onnx import TensorProto

    g, warnings = _Graph(), []
    h = g.h
    topo = model.topology
    frac, amax = model.input_frac, float(1 << (model.input_bits - 1))
    x = g.quant("global_in", frac, model.input_bits, True, "in_quant")
    flat = False  # the activation is (N, features) after a dense stage
    for i, s in enumerate(model.stages):
        if flat and s.kind != "dense":
            x = g.node("Unsqueeze", [x, g.const("axes", [2], np.int64)], "unsqueeze")
            flat = False
        if s.is_compute:
            w, b = model.w(i), model.b(i)
            wq = g.quant(g.const(f"s{i}_w", onnx_weight(s, w) * 2.0 ** -s.w_frac), s.w_frac, s.w_bits, True, f"s{i}_wq")
            acc_frac = frac + s.w_frac
            bound = (float(np.abs(b).max(initial=0)) if b is not None else 0.0) + \
                s.reduction * amax * float(np.abs(w).max(initial=0))
            _check_exact(i, s, bound)
            if _bits(bound) + 1 > s.acc_bits:
                warnings.append(f"stage {i} ({s.kind}): acc_bits {s.acc_bits} < bound {_bits(bound) + 1} bits; the QONNX "
                                "graph computes the sum without the hardware's wrap-around")
            bq = None
            if b is not None:
                bq = g.quant(g.const(f"s{i}_b", b * 2.0 ** -acc_frac), acc_frac, s.acc_bits, True, f"s{i}_bq")
            if s.kind == "dense":
                if not flat:
                    x = g.node("Flatten", [x], "flatten", axis=1)
                x = g.node("MatMul", [x, wq], f"s{i}_matmul")
                if bq is not None:
                    x = g.node("Add", [x, bq], f"s{i}_add")
                flat = True
            else:
                attrs: Dict[str, Any] = dict(kernel_shape=[s.kernel], strides=[s.stride], pads=[s.padding, s.padding],
                                             dilations=[1], group=s.in_ch if s.kind == "dwconv1d" else 1)
                if s.kind == "pwconv1d":
                    attrs.update(kernel_shape=[1], strides=[1], pads=[0, 0])
                x = g.node("Conv", [x, wq] + ([bq] if bq is not None else []), f"s{i}_conv", **attrs)
            if s.relu:
                x = g.node("Relu", [x], f"s{i}_relu")
            frac = acc_frac - s.shift
            x = g.quant(x, frac, s.out_bits, s.out_signed, f"s{i}_out")
        elif s.kind == "maxpool1d":
            x = g.node("MaxPool", [x], f"s{i}_maxpool", kernel_shape=[s.kernel], strides=[s.stride], pads=[0, 0])
        else:  # avgpool1d, gap1d: window sum x avg_mult / 2**16, rounded half-even (golden.pool)
            _check_exact(i, s, s.window * amax)
            if s.kind == "gap1d":
                x = g.node("ReduceSum", [x, g.const("axes", [2], np.int64)], f"s{i}_sum", keepdims=1)
            else:
                ones = g.const(f"s{i}_ones", np.ones((s.in_ch, 1, s.kernel)))
                x = g.node("Conv", [x, ones], f"s{i}_sum", kernel_shape=[s.kernel], strides=[s.stride], pads=[0, 0],
                           dilations=[1], group=s.in_ch)
            x = g.node("Cast", [x], f"s{i}_f64", to=TensorProto.DOUBLE)
            x = g.node("Mul", [x, g.const(f"s{i}_avg", s.avg_mult * 2.0 ** -AVG_SHIFT, np.float64)], f"s{i}_avg")
            x = g.quant(x, frac, s.out_bits, s.out_signed, f"s{i}_out", np.float64)
            x = g.node("Cast", [x], f"s{i}_f32", to=TensorProto.FLOAT)
        amax = float(max(abs(s.out_min), abs(s.out_max)))
    if not flat:
        x = g.node("Flatten", [x], "flatten", axis=1)
    g.nodes.append(h.make_node("Identity", [x], ["global_out"], name="output"))
    inp = h.make_tensor_value_info("global_in", TensorProto.FLOAT, ["N", topo.input.channels, topo.input.length])
    out = h.make_tensor_value_info("global_out", TensorProto.FLOAT, ["N", topo.classes])
    graph = h.make_graph(g.nodes, topo.name, [inp], [out], g.inits)
    proto = h.make_model(graph, producer_name="sustainml",
                         opset_imports=[h.make_opsetid("", OPSET), h.make_opsetid(QUANT_DOMAIN, 1)])
    h.set_model_props(proto, {META_TOPOLOGY: yaml.safe_dump(topo.to_dict(), sort_keys=False),
                              META_INPUT_FRAC: str(model.input_frac), META_OUTPUT_FRAC: str(frac)})
    return proto, warnings


def export(model: QuantizedModel, path: Union[str, Path]) -> List[str]:
    """Write ``model`` as QONNX to ``path`` (atomically); returns the warnings."""
    import onnx

    proto, warnings = build(model)
    onnx.checker.check_model(proto)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(proto, str(tmp))
    tmp.replace(path)
    return warnings


def output_frac(proto: Any) -> int:
    props = {p.key: p.value for p in proto.metadata_props}
    return int(props[META_OUTPUT_FRAC])


def execute(proto: Any, x_int: np.ndarray, input_frac: int, out_frac: Optional[int] = None) -> np.ndarray:
    """Run a QONNX model with qonnx's reference executor on integer inputs ``(N, L, C)`` (or
    ``(N, L)``); returns the logits as integers ``round(y * 2**out_frac)``."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    x = np.asarray(x_int, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, :, None]
    xin = (np.transpose(x, (0, 2, 1)) * 2.0 ** -input_frac).astype(np.float32)
    wrapper = ModelWrapper(proto.model if isinstance(proto, ModelWrapper) else proto)
    wrapper = ModelWrapper(wrapper.model.__deepcopy__(None))
    iname, oname = wrapper.graph.input[0].name, wrapper.graph.output[0].name
    wrapper.set_tensor_shape(iname, list(xin.shape))  # the batch dimension made concrete, then shapes inferred
    wrapper.graph.output[0].type.tensor_type.shape.dim[0].dim_value = len(xin)
    wrapper = wrapper.transform(InferShapes())
    y = np.asarray(execute_onnx(wrapper, {iname: xin})[oname], dtype=np.float64)
    f = output_frac(wrapper.model) if out_frac is None else out_frac
    return np.rint(y.reshape(len(y), -1) * 2.0 ** f).astype(np.int64)
