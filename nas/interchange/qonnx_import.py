"""``sustainml import model.onnx --out MODEL``: a QONNX 1D CNN → Topology IR + integer weights.

Reads what Brevitas exports (``Quant`` nodes with per-tensor power-of-two scales and zero
point 0 on the input, the weights, the biases and the activations) and what
:mod:`.qonnx_export` writes. The activation path from ``global_in`` to the output must be a
chain of the hardware library's modules::

    Quant                                          the input (signed; input_frac, bits)
    Conv[+Add] [Relu] Quant                        conv1d (group 1), dwconv1d (group C, must be
                                                   followed by a kernel-1 conv: a depthwise-
                                                   separable layer), or pwconv1d after it
    (Flatten|Reshape) (MatMul[+Add]|Gemm) [Relu] Quant    dense
    MaxPool                                        maxpool1d (no padding)
    AveragePool Quant / GlobalAveragePool Quant    avgpool1d / gap1d
    Conv(unit weights)|ReduceSum Cast Mul Cast...  avgpool1d / gap1d as our export writes them

Integer parameters are recovered exactly: ``w_int = w / scale`` must be integers in range. A
per-channel weight scale is folded exactly when the channels' powers of two differ little
enough that the rescaled integers still fit the bit width; otherwise it is refused. Shifts
follow from the scales (``shift = in_frac + w_frac - out_frac``). Anything else (BatchNorm,
Transpose, non-power-of-two scales, zero points, padding on pools, ...) is refused naming the
node and the reason. AveragePool divides by the window exactly while the hardware multiplies
by ``round(2**16 / window) / 2**16``: the two agree except at rare rounding ties, which is
said in the import's notes.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import yaml

from ..quantized import QuantizedModel, Stage, plan_stages
from ..topology import LEGAL_BITS, Topology, TopologyError
from .qonnx_export import META_TOPOLOGY, stage_weight


class ImportError_(TopologyError):
    """The QONNX model cannot be built by the hardware library; the message names the node."""


def _pow2_frac(scale: np.ndarray, where: str) -> int:
    s = float(np.asarray(scale).reshape(-1)[0])
    if not np.all(np.asarray(scale) == s):
        raise ImportError_(f"{where}: per-channel scale where a per-tensor one is needed")
    if s <= 0 or not math.log2(s).is_integer():
        raise ImportError_(f"{where}: scale {s!r} is not a power of two (the hardware requantizes by shifts)")
    return int(-math.log2(s))


class _Reader:
    def __init__(self, model: Any) -> None:
        self.m = model
        self.notes: List[str] = []

    def const(self, name: str) -> Optional[np.ndarray]:
        v = self.m.get_initializer(name)
        if v is None:
            prod = self.m.find_producer(name)
            if prod is not None and prod.op_type in ("Constant",):
                from onnx import numpy_helper

                return numpy_helper.to_array(prod.attribute[0].t)
        return v

    def next(self, tensor: str) -> Optional[Any]:
        nodes = self.m.find_consumers(tensor) or []
        if len(nodes) > 1:
            raise ImportError_(f"tensor {tensor}: feeds {len(nodes)} nodes ({', '.join(n.name for n in nodes)}); "
                               "the hardware library builds chains only")
        return nodes[0] if nodes else None

    def attrs(self, node: Any) -> Dict[str, Any]:
        from onnx import helper

        vals = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        return {k: v.decode() if isinstance(v, bytes) else v for k, v in vals.items()}

    def quant_params(self, node: Any) -> Tuple[np.ndarray, int, bool]:
        """(scale, bits, signed) of a Quant node with constant scale/zeropt/bitwidth."""
        where = f"node {node.name} (Quant)"
        scale, zp, bw = (self.const(n) for n in node.input[1:4])
        if scale is None or zp is None or bw is None:
            raise ImportError_(f"{where}: scale, zero point and bit width must be constants")
        if np.any(np.asarray(zp) != 0):
            raise ImportError_(f"{where}: zero point {np.asarray(zp).reshape(-1)[0]} (only 0: symmetric quantization)")
        a = self.attrs(node)
        if a.get("narrow", 0):
            self.notes.append(f"{node.name}: narrow range read as full range (the extra code is never produced)")
        if str(a.get("rounding_mode", "ROUND")).upper() not in ("ROUND", "HALF_EVEN"):
            raise ImportError_(f"{where}: rounding_mode {a.get('rounding_mode')} (the hardware rounds half to even)")
        return np.asarray(scale, dtype=np.float64), int(np.asarray(bw).reshape(-1)[0]), bool(a.get("signed", 1))

    def quantized_const(self, name: str, where: str) -> Tuple[np.ndarray, np.ndarray, int]:
        """A parameter ``Quant(constant)``: (its integers, per-element fracs broadcastable to them,
        bits), the integers being what the Quant node computes: clip(round_half_even(v / scale))."""
        prod = self.m.find_producer(name)
        if prod is None or prod.op_type != "Quant":
            raise ImportError_(f"{where}: parameter {name} is not quantized (no Quant node)")
        vals = self.const(prod.input[0])
        if vals is None:
            raise ImportError_(f"{where}: the quantized parameter {prod.input[0]} is not a constant")
        scale, bits, signed = self.quant_params(prod)
        flat = scale.reshape(-1)
        fracs = np.array([_pow2_frac(np.array(v), where) for v in flat]).reshape(scale.shape)
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        ints = np.clip(np.round(np.asarray(vals, dtype=np.float64) / scale), lo, hi).astype(np.int64)
        return ints, fracs, bits


def _weights(rd: _Reader, name: str, where: str) -> Tuple[np.ndarray, int, int]:
    """Integer weights, w_frac and bits; per-channel power-of-two scales folded when exact."""
    ints, fracs, bits = rd.quantized_const(name, where)
    frac = int(fracs.max())
    if fracs.size == 1 or np.all(fracs == frac):
        return ints, frac, bits
    folded = ints * (np.int64(1) << (frac - fracs).astype(np.int64))
    qmax = (1 << (bits - 1)) - 1
    if np.abs(folded).max(initial=0) > qmax:
        raise ImportError_(f"{where}: per-channel scales (2**-{int(fracs.min())}..2**-{frac}) cannot be folded exactly "
                           f"into one per-tensor scale at {bits} bits")
    rd.notes.append(f"{where}: per-channel scales folded exactly into 2**-{frac}")
    return folded, frac, bits


def _clean(model: Any) -> Any:
    """qonnx's cleanup (shapes, constants folded except Quant nodes, transposes folded into
    quantized initializers) without its renaming: messages name the nodes as the file does."""
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import GiveUniqueParameterTensors, RemoveStaticGraphInputs, \
        RemoveUnusedTensors
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

    for i, node in enumerate(model.graph.node):
        if node.op_type in ("Quant", "Trunc", "BipolarQuant"):
            node.domain = "qonnx.custom_op.general"
        if not node.name:
            node.name = f"{node.op_type}_{i}"
    for t in (InferShapes(), GiveUniqueParameterTensors(), FoldConstants(exclude_op_types=["Quant", "BipolarQuant"]),
              FoldTransposeIntoQuantInit(), RemoveUnusedTensors(), RemoveStaticGraphInputs()):
        model = model.transform(t)
    return model


def read(path: Union[str, Path]) -> Tuple[QuantizedModel, List[str]]:
    """The QuantizedModel of a QONNX file and notes on what was interpreted."""
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper

    path = Path(path)
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx raises DecodeError and friends
        raise ImportError_(f"{path}: not an ONNX model ({type(exc).__name__})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    inits = {i.name for i in proto.graph.initializer}
    for extra in [i for i in proto.graph.input if i.name in inits]:  # older exporters list weights as inputs
        proto.graph.input.remove(extra)
    if len(proto.graph.input) != 1 or len(proto.graph.output) != 1:
        raise ImportError_(f"{path}: expected one input and one output, found {len(proto.graph.input)} and "
                           f"{len(proto.graph.output)}")
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 3:
        raise ImportError_(f"{path}: input {proto.graph.input[0].name} must be (N, C, L), has {len(dims)} dimensions")
    dims[0].dim_value = 1
    proto.graph.output[0].type.tensor_type.shape.dim[0].dim_value = 1
    wrapper = _clean(ModelWrapper(proto))
    rd = _Reader(wrapper)
    channels, length = (int(d.dim_value) for d in wrapper.graph.input[0].type.tensor_type.shape.dim[1:])
    model = _walk(rd, wrapper, str(path), channels, length, path.stem, props)
    return model, rd.notes


def _walk(rd: _Reader, m: Any, src: str, channels: int, length: int, name: str,
          props: Dict[str, str]) -> QuantizedModel:
    node = rd.next(m.graph.input[0].name)
    if node is None or node.op_type != "Quant":
        raise ImportError_(f"{src}: the input must go through a Quant node first (found "
                           f"{node.op_type if node else 'nothing'})")
    scale, in_bits, signed = rd.quant_params(node)
    if not signed:
        raise ImportError_(f"node {node.name}: the DNNU input is signed; this Quant is unsigned")
    if in_bits not in LEGAL_BITS:
        raise ImportError_(f"node {node.name}: input bit width {in_bits} (legal: 2..8 or 16)")
    input_frac = frac = _pow2_frac(scale, f"node {node.name} (Quant)")
    layers: List[Dict[str, Any]] = []
    params: List[Dict[str, Any]] = []  # per stage: shift, fracs, weights, bias, acc_bits
    t = node.output[0]
    flat = False
    while True:
        node = rd.next(t)
        if node is None or t == m.graph.output[0].name:
            break
        op, where = node.op_type, f"node {node.name} ({node.op_type})"
        if op in ("Identity", "Unsqueeze", "Cast") or (op in ("Flatten", "Reshape") and not flat):
            flat = flat or op in ("Flatten", "Reshape")
            t = node.output[0]
            continue
        if op == "Conv" and _is_window_sum(rd, node):
            t = _our_avg(rd, node, where, frac, layers, params, gap=False)
        elif op in ("Conv", "MatMul", "Gemm"):
            t, frac = _compute(rd, node, where, frac, layers, params)
            flat = op != "Conv"
        elif op == "MaxPool":
            a = rd.attrs(node)
            if any(a.get("pads", [0, 0])) or a.get("ceil_mode", 0) or len(a["kernel_shape"]) != 1:
                raise ImportError_(f"{where}: only unpadded 1D max pooling (floor mode) is built")
            k, s = int(a["kernel_shape"][0]), int(a.get("strides", a["kernel_shape"])[0])
            layers.append({"type": "MaxPool1D", "pool": k, "stride": 0 if s == k else s})
            params.append({})
            t = node.output[0]
        elif op in ("AveragePool", "GlobalAveragePool"):
            t = _brevitas_avg(rd, node, where, frac, layers, params)
        elif op in ("ReduceSum",):
            t = _our_avg(rd, node, where, frac, layers, params, gap=True)
        else:
            raise ImportError_(f"{where}: not built by the hardware library (supported: Quant, Conv, MatMul, Gemm, "
                               "Relu, MaxPool, AveragePool, GlobalAveragePool, Flatten)")
    classes = int(np.prod([d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim[1:]]))
    doc = {"name": name, "input": {"length": length, "channels": channels, "bits": in_bits},
           "classes": classes, "layers": layers}
    topo = Topology.from_dict(doc, src)
    stages = plan_stages(topo)
    compute = [p for p in params if p]
    if len(compute) != sum(s.is_compute for s in stages):
        raise ImportError_(f"{src}: internal: {len(compute)} quantized compute nodes for "
                           f"{sum(s.is_compute for s in stages)} stages")
    weights: Dict[str, np.ndarray] = {}
    it = iter(compute)
    for i, s in enumerate(stages):
        if not s.is_compute:
            continue
        p = next(it)
        s.shift, s.in_frac, s.w_frac, s.out_frac, s.acc_bits = p["shift"], p["in_frac"], p["w_frac"], p["out_frac"], \
            p["acc_bits"]
        weights[f"s{i}_w"] = stage_weight(s, p["w"])
        if p["b"] is not None:
            weights[f"s{i}_b"] = p["b"]
    carried = props.get(META_TOPOLOGY)
    if carried:  # our own export: keep the original IR (names, BatchNorm/ReLU entries) if it plans the same
        orig = Topology.from_dict(yaml.safe_load(carried), f"{src} metadata")
        if [_geometry(s) for s in plan_stages(orig)] == [_geometry(s) for s in stages]:
            topo = orig
    return QuantizedModel(topo, input_frac, stages, weights, {"imported_from": src})


def _geometry(s: Stage) -> tuple:
    return (s.kind, s.in_len, s.in_ch, s.in_bits, s.in_signed, s.out_len, s.out_ch, s.out_bits, s.out_signed,
            s.kernel, s.stride, s.padding, s.relu, s.w_bits)


def _compute(rd: _Reader, node: Any, where: str, frac: int, layers: List[Dict[str, Any]],
             params: List[Dict[str, Any]]) -> Tuple[str, int]:
    op, a = node.op_type, rd.attrs(node)
    if op == "Conv":
        w_int, w_frac, w_bits = _weights(rd, node.input[1], where)
        if w_int.ndim != 3:
            raise ImportError_(f"{where}: a {w_int.ndim - 2}D convolution (only 1D is built)")
        if any(d != 1 for d in a.get("dilations", [1])):
            raise ImportError_(f"{where}: dilation {a.get('dilations')} (not built)")
        pads = list(a.get("pads", [0, 0]))
        if pads[0] != pads[-1]:
            raise ImportError_(f"{where}: asymmetric padding {pads} (not built)")
        group, cout, k = int(a.get("group", 1)), w_int.shape[0], w_int.shape[2]
        stride = int(a.get("strides", [1])[0])
        if group == 1 and not (cout == 1 and w_int.shape[1] == 1 and _separable_follows(rd, node)):
            kind = "conv1d"
        elif w_int.shape[1] == 1 and group == cout:
            kind = "dwconv1d"
        else:
            raise ImportError_(f"{where}: grouped convolution with group={group} (only depthwise: group = channels)")
        bias_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
    else:
        w_int, w_frac, w_bits = _weights(rd, node.input[1], where)
        if op == "Gemm":
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                raise ImportError_(f"{where}: Gemm with transA/alpha/beta (not built)")
            if a.get("transB", 0):
                w_int = w_int.T
        kind, k, stride, pads = "dense", 1, 1, [0, 0]
        bias_name = node.input[2] if op == "Gemm" and len(node.input) > 2 and node.input[2] else None
    acc_frac = frac + w_frac
    t = node.output[0]
    nxt = rd.next(t)
    if bias_name is None and nxt is not None and nxt.op_type == "Add":
        bias_name = [i for i in nxt.input if i != t][0]
        t, nxt = nxt.output[0], rd.next(nxt.output[0])
    b, acc_bits = None, 32  # QONNX sums without bound; `sustainml generate` sizes the accumulators
    if bias_name is not None:
        ints, bfracs, _ = rd.quantized_const(bias_name, where + " bias")  # its width bounds the bias only
        if bfracs.size != 1:
            raise ImportError_(f"{where}: per-channel bias scale (the accumulator has one scale)")
        bfrac = int(bfracs.reshape(-1)[0])
        if bfrac > acc_frac:
            raise ImportError_(f"{where}: bias scale 2**-{bfrac} finer than the accumulator's 2**-{acc_frac}")
        b = ints.reshape(-1) << (acc_frac - bfrac)
    relu = False
    if nxt is not None and nxt.op_type == "Relu":
        relu, t, nxt = True, nxt.output[0], rd.next(nxt.output[0])
    if nxt is None or nxt.op_type != "Quant":
        raise ImportError_(f"{where}: must be followed by [Relu] Quant (the requantization), found "
                           f"{nxt.op_type if nxt else 'the output'}")
    scale, out_bits, signed = rd.quant_params(nxt)
    out_frac = _pow2_frac(scale, f"node {nxt.name} (Quant)")
    if relu and signed:
        raise ImportError_(f"node {nxt.name} (Quant): signed requantization after Relu (the hardware's ReLU output is "
                           "unsigned)")
    relu = relu or not signed
    if out_bits not in LEGAL_BITS or w_bits not in LEGAL_BITS:
        raise ImportError_(f"{where}: widths w={w_bits} out={out_bits} (legal: 2..8 or 16)")
    prev = layers[-1] if layers else None
    if kind == "conv1d" and k == 1 and prev is not None and prev.get("_dw"):
        if prev["weight_bits"] != w_bits or prev["act_bits"] != out_bits:
            raise ImportError_(f"{where}: the pointwise half of a depthwise-separable layer must share the depthwise "
                               f"half's weight_bits and act_bits ({prev['weight_bits']}, {prev['act_bits']})")
        prev.pop("_dw")
        prev["filters"] = int(w_int.shape[0])
        kind = "pwconv1d"
        if relu:
            layers.append({"type": "ReLU"})
    elif kind == "dwconv1d":
        if relu:
            raise ImportError_(f"{where}: ReLU after a depthwise convolution (the depthwise half of a separable "
                               "layer is requantized signed, without ReLU)")
        layers.append({"type": "DepthwiseSeparableConv1D", "kernel": k, "stride": stride, "padding": pads[0],
                       "weight_bits": w_bits, "act_bits": out_bits, "filters": 0, "_dw": True})
    elif kind == "conv1d":
        layers.append({"type": "Conv1D", "filters": int(w_int.shape[0]), "kernel": k, "stride": stride,
                       "padding": pads[0], "weight_bits": w_bits, "act_bits": out_bits})
        if relu:
            layers.append({"type": "ReLU"})
    else:
        layers.append({"type": "Dense", "units": int(w_int.shape[1]), "weight_bits": w_bits, "act_bits": out_bits})
        if relu:
            layers.append({"type": "ReLU"})
    params.append({"shift": acc_frac - out_frac, "in_frac": frac, "w_frac": w_frac, "out_frac": out_frac,
                   "acc_bits": acc_bits, "w": w_int, "b": b})
    return nxt.output[0], out_frac


def _separable_follows(rd: _Reader, node: Any) -> bool:
    """One channel in and out, requantized signed without ReLU, then a kernel-1 Conv: the
    depthwise half of a separable layer (ambiguous with a 1-filter Conv1D only at C = 1)."""
    t, ops = node.output[0], []
    while len(ops) < 4:
        nxt = rd.m.find_consumers(t) or []
        if len(nxt) != 1:
            return False
        ops.append(nxt[0])
        t = nxt[0].output[0]
        if nxt[0].op_type == "Quant":
            break
    if [n.op_type for n in ops] not in (["Quant"], ["Add", "Quant"]) or not rd.attrs(ops[-1]).get("signed", 1):
        return False
    conv = rd.m.find_consumers(t) or []
    if len(conv) != 1 or conv[0].op_type != "Conv":
        return False
    w = rd.m.find_producer(conv[0].input[1])
    shape = rd.m.get_tensor_shape(w.input[0] if w is not None and w.op_type == "Quant" else conv[0].input[1])
    return shape is not None and len(shape) == 3 and shape[2] == 1


def _brevitas_avg(rd: _Reader, node: Any, where: str, frac: int, layers: List[Dict[str, Any]],
                  params: List[Dict[str, Any]]) -> str:
    a = rd.attrs(node)
    if node.op_type == "AveragePool":
        if any(a.get("pads", [0, 0])) or len(a["kernel_shape"]) != 1:
            raise ImportError_(f"{where}: only unpadded 1D average pooling is built")
        k, s = int(a["kernel_shape"][0]), int(a.get("strides", a["kernel_shape"])[0])
        layers.append({"type": "AvgPool1D", "pool": k, "stride": 0 if s == k else s})
    else:
        layers.append({"type": "GlobalAvgPool1D"})
    params.append({})
    q = rd.next(node.output[0])
    if q is None or q.op_type != "Quant":
        raise ImportError_(f"{where}: must be followed by a Quant node")
    scale, _, _ = rd.quant_params(q)
    if _pow2_frac(scale, f"node {q.name} (Quant)") != frac:
        raise ImportError_(f"node {q.name} (Quant): average pooling must keep its input's scale 2**-{frac}")
    rd.notes.append(f"{where}: the hardware averages with round(2**16/window)/2**16; equal to the exact average "
                    "except at rounding ties")
    return q.output[0]


def _is_window_sum(rd: _Reader, node: Any) -> bool:
    """A depthwise Conv with unit weights (not quantized) feeding a Cast: our pooling sum."""
    w = rd.m.get_initializer(node.input[1])
    nxt = rd.m.find_consumers(node.output[0]) or []
    return w is not None and np.all(w == 1) and len(nxt) == 1 and nxt[0].op_type == "Cast"


def _our_avg(rd: _Reader, node: Any, where: str, frac: int, layers: List[Dict[str, Any]],
             params: List[Dict[str, Any]], gap: bool) -> str:
    """sum → Cast → Mul(avg_mult/2**16) → Quant → Cast, as qonnx_export writes pooling."""
    if gap:
        layers.append({"type": "GlobalAvgPool1D"})
    else:
        a = rd.attrs(node)
        k, s = int(a["kernel_shape"][0]), int(a.get("strides", a["kernel_shape"])[0])
        layers.append({"type": "AvgPool1D", "pool": k, "stride": 0 if s == k else s})
    params.append({})
    t = node.output[0]
    for op in ("Cast", "Mul", "Quant", "Cast"):
        nxt = rd.next(t)
        if nxt is None or nxt.op_type != op:
            raise ImportError_(f"{where}: expected {op} after it (sustainml's average-pooling pattern)")
        t = nxt.output[0]
    return t
