"""Topology IR: the one typed description of a 1D-CNN that every stage of the flow reads.

A topology is an input spec plus an ordered list of layers whose types are exactly the
hardware library's modules. YAML form::

    name: ecg_baseline
    input: {length: 140, channels: 1, bits: 8}
    classes: 5
    layers:
      - {type: Conv1D, filters: 8, kernel: 5, stride: 1, padding: 2, weight_bits: 8, act_bits: 8}
      - {type: BatchNorm}
      - {type: ReLU}
      - {type: MaxPool1D, pool: 2}
      - {type: GlobalAvgPool1D}
      - {type: Dense, units: 5, weight_bits: 8, act_bits: 16}

Bit widths: compute layers (Conv1D, DepthwiseSeparableConv1D, Dense) carry ``weight_bits`` and
``act_bits`` (the width of their requantized output, after any fused BatchNorm/ReLU).
Parameter-free layers inherit the width of what they consume; :meth:`Topology.shapes`
reports the resolved widths of every layer. Legal widths: 2..8 and 16.

Shapes are ``(length, channels)``; a Dense layer flattens its input time-major
(index ``t * channels + c``), the order in which the hardware streams it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Optional, Tuple, Type, Union

import yaml

from sustainml.errors import SustainmlError
from sustainml.yamlio import read_yaml

LEGAL_BITS = tuple(range(2, 9)) + (16,)


class TopologyError(SustainmlError, ValueError):
    """A topology is invalid; the message names the layer and field."""


@dataclass(frozen=True)
class Shape:
    """A feature map as streamed: ``length`` time steps of ``channels`` values, ``bits`` wide."""

    length: int
    channels: int
    bits: int
    signed: bool

    @property
    def size(self) -> int:
        return self.length * self.channels


@dataclass
class Layer:
    """Base of all IR layers."""

    TYPE: ClassVar[str] = ""
    COMPUTE: ClassVar[bool] = False

    def params(self) -> int:
        return 0

    def macs(self, inp: Shape) -> int:
        return 0

    def out_geometry(self, inp: Shape, where: str) -> Tuple[int, int]:
        return inp.length, inp.channels

    def to_dict(self) -> Dict[str, Any]:
        return {"type": self.TYPE, **asdict(self)}


def _check_bits(where: str, name: str, value: int) -> None:
    if value not in LEGAL_BITS:
        raise TopologyError(f"{where}: {name}={value} is out of range (legal: 2..8 or 16)")


@dataclass
class _Compute(Layer):
    COMPUTE: ClassVar[bool] = True
    weight_bits: int = 8
    act_bits: int = 8

    def validate(self, where: str) -> None:
        _check_bits(where, "weight_bits", self.weight_bits)
        _check_bits(where, "act_bits", self.act_bits)


@dataclass
class _Conv(_Compute):
    filters: int = 8
    kernel: int = 3
    stride: int = 1
    padding: int = 0

    def validate(self, where: str) -> None:
        super().validate(where)
        _positive(where, filters=self.filters, kernel=self.kernel, stride=self.stride)
        _nonneg(where, padding=self.padding)

    def out_geometry(self, inp: Shape, where: str) -> Tuple[int, int]:
        return _conv_length(inp.length, self.kernel, self.stride, self.padding, where), self.filters

    def out_length(self, length: int) -> int:
        return (length + 2 * self.padding - self.kernel) // self.stride + 1


@dataclass
class Conv1D(_Conv):
    TYPE: ClassVar[str] = "Conv1D"

    def params_for(self, cin: int) -> int:
        return self.kernel * cin * self.filters + self.filters

    def macs(self, inp: Shape) -> int:
        return self.out_length(inp.length) * self.kernel * inp.channels * self.filters


@dataclass
class DepthwiseSeparableConv1D(_Conv):
    """Depthwise Conv1D (one ``kernel``-tap filter per channel, no bias, requantized to
    ``act_bits`` signed) followed by a pointwise (1x1) Conv1D with bias."""

    TYPE: ClassVar[str] = "DepthwiseSeparableConv1D"

    def params_for(self, cin: int) -> int:
        return self.kernel * cin + cin * self.filters + self.filters

    def macs(self, inp: Shape) -> int:
        return self.out_length(inp.length) * inp.channels * (self.kernel + self.filters)


@dataclass
class Dense(_Compute):
    TYPE: ClassVar[str] = "Dense"
    units: int = 10

    def validate(self, where: str) -> None:
        super().validate(where)
        _positive(where, units=self.units)

    def out_geometry(self, inp: Shape, where: str) -> Tuple[int, int]:
        return 1, self.units

    def params_for(self, cin: int) -> int:
        return cin * self.units + self.units

    def macs(self, inp: Shape) -> int:
        return inp.size * self.units


@dataclass
class MaxPool1D(Layer):
    TYPE: ClassVar[str] = "MaxPool1D"
    pool: int = 2
    stride: int = 0  # 0 = same as pool

    def validate(self, where: str) -> None:
        _positive(where, pool=self.pool)
        _nonneg(where, stride=self.stride)

    @property
    def step(self) -> int:
        return self.stride or self.pool

    def out_geometry(self, inp: Shape, where: str) -> Tuple[int, int]:
        return _conv_length(inp.length, self.pool, self.step, 0, where, "pool"), inp.channels


@dataclass
class AvgPool1D(MaxPool1D):
    TYPE: ClassVar[str] = "AvgPool1D"


@dataclass
class GlobalAvgPool1D(Layer):
    TYPE: ClassVar[str] = "GlobalAvgPool1D"

    def validate(self, where: str) -> None:
        pass

    def out_geometry(self, inp: Shape, where: str) -> Tuple[int, int]:
        return 1, inp.channels


@dataclass
class ReLU(Layer):
    TYPE: ClassVar[str] = "ReLU"

    def validate(self, where: str) -> None:
        pass


@dataclass
class BatchNorm(Layer):
    """Folded into the preceding compute layer at export."""

    TYPE: ClassVar[str] = "BatchNorm"

    def validate(self, where: str) -> None:
        pass


LAYER_TYPES: Dict[str, Type[Layer]] = {
    cls.TYPE: cls
    for cls in (Conv1D, DepthwiseSeparableConv1D, Dense, MaxPool1D, AvgPool1D, GlobalAvgPool1D, ReLU, BatchNorm)
}


def _positive(where: str, **values: int) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise TopologyError(f"{where}: {name}={v!r} must be a positive integer")


def _nonneg(where: str, **values: int) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise TopologyError(f"{where}: {name}={v!r} must be a non-negative integer")


def _conv_length(length: int, kernel: int, stride: int, padding: int, where: str, what: str = "kernel") -> int:
    if kernel > length + 2 * padding:
        raise TopologyError(f"{where}: {what}={kernel} is longer than its input (length {length}, padding {padding})")
    return (length + 2 * padding - kernel) // stride + 1


@dataclass
class InputSpec:
    length: int
    channels: int = 1
    bits: int = 8


@dataclass
class Topology:
    """A validated 1D-CNN: input spec, class count and layers (see module docstring)."""

    name: str
    input: InputSpec
    classes: int
    layers: List[Layer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation / shapes
    def validate(self) -> None:
        where0 = f"topology {self.name!r}"
        _positive(f"{where0} input", length=self.input.length, channels=self.input.channels)
        _check_bits(f"{where0} input", "bits", self.input.bits)
        _positive(where0, classes=self.classes)
        if not self.layers:
            raise TopologyError(f"{where0}: no layers")
        self.shapes()  # raises on shape errors
        prev: Optional[Layer] = None
        for i, layer in enumerate(self.layers):
            where = self.where(i)
            if isinstance(layer, BatchNorm) and not (prev is not None and prev.COMPUTE):
                raise TopologyError(f"{where}: BatchNorm must directly follow Conv1D, DepthwiseSeparableConv1D or Dense")
            if isinstance(layer, ReLU) and not (prev is not None and (prev.COMPUTE or isinstance(prev, BatchNorm))):
                raise TopologyError(f"{where}: ReLU must follow a compute layer or its BatchNorm (it is fused into the requantization)")
            prev = layer
        last = [i for i, l in enumerate(self.layers) if l.COMPUTE]
        if not last or not isinstance(self.layers[last[-1]], Dense):
            raise TopologyError(f"{where0}: missing classifier (the last compute layer must be Dense with units={self.classes})")
        clf = self.layers[last[-1]]
        if clf.units != self.classes:  # type: ignore[attr-defined]
            raise TopologyError(f"{self.where(last[-1])}: classifier units={clf.units} but classes={self.classes}")  # type: ignore[attr-defined]
        tail = self.layers[last[-1] + 1:]
        if any(not isinstance(l, BatchNorm) for l in tail):
            raise TopologyError(f"{self.where(last[-1] + 1)}: nothing but BatchNorm may follow the classifier (logits are linear)")

    def where(self, i: int) -> str:
        return f"layer {i} ({self.layers[i].TYPE})"

    def shapes(self) -> List[Shape]:
        """Output shape of every layer (index-aligned with ``layers``)."""
        cur = Shape(self.input.length, self.input.channels, self.input.bits, True)
        out: List[Shape] = []
        relu_pending = False
        for i, layer in enumerate(self.layers):
            where = self.where(i)
            layer.validate(where)
            if isinstance(layer, Dense) and cur.length > 1:
                pass  # implicit time-major flatten
            length, channels = layer.out_geometry(cur, where)
            if layer.COMPUTE:
                relu_pending = self._relu_follows(i)
                cur = Shape(length, channels, layer.act_bits, not relu_pending)  # type: ignore[attr-defined]
            else:
                cur = Shape(length, channels, cur.bits, cur.signed)
            out.append(cur)
        return out

    def _relu_follows(self, i: int) -> bool:
        for layer in self.layers[i + 1:]:
            if isinstance(layer, BatchNorm):
                continue
            return isinstance(layer, ReLU)
        return False

    def input_shape(self) -> Shape:
        return Shape(self.input.length, self.input.channels, self.input.bits, True)

    def in_shapes(self) -> List[Shape]:
        """Input shape of every layer."""
        return [self.input_shape()] + self.shapes()[:-1]

    # ------------------------------------------------------------------ counts
    def params(self) -> int:
        total = 0
        for layer, inp in zip(self.layers, self.in_shapes()):
            if isinstance(layer, Dense):
                total += layer.params_for(inp.size)
            elif layer.COMPUTE:
                total += layer.params_for(inp.channels)  # type: ignore[attr-defined]
        return total

    def macs(self) -> int:
        return sum(layer.macs(inp) for layer, inp in zip(self.layers, self.in_shapes()))

    def weight_bits_total(self) -> int:
        """On-chip weight storage in bits (weights at their width, biases at 32 bits)."""
        total = 0
        for layer, inp in zip(self.layers, self.in_shapes()):
            if not layer.COMPUTE:
                continue
            cin = inp.size if isinstance(layer, Dense) else inp.channels
            n_bias = layer.units if isinstance(layer, Dense) else layer.filters  # type: ignore[attr-defined]
            total += (layer.params_for(cin) - n_bias) * layer.weight_bits + 32 * n_bias  # type: ignore[attr-defined]
        return total

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "input": asdict(self.input),
            "classes": self.classes,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_yaml(self, path: Union[str, Path, None] = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: Any, source: str = "topology") -> "Topology":
        if not isinstance(data, dict):
            raise TopologyError(f"{source}: expected a mapping with name, input, classes, layers")
        for key in ("input", "classes", "layers"):
            if key not in data:
                raise TopologyError(f"{source}: missing field {key!r}")
        unknown = set(data) - {"name", "input", "classes", "layers"}
        if unknown:
            raise TopologyError(f"{source}: unknown field(s) {sorted(unknown)}")
        inp = data["input"]
        if not isinstance(inp, dict):
            raise TopologyError(f"{source}: input must be a mapping with length, channels, bits")
        bad = set(inp) - {"length", "channels", "bits"}
        if bad:
            raise TopologyError(f"{source}: input has unknown field(s) {sorted(bad)}")
        if not isinstance(data["layers"], list):
            raise TopologyError(f"{source}: layers must be a list")
        layers = [_layer_from_dict(item, i, source) for i, item in enumerate(data["layers"])]
        return cls(name=str(data.get("name", "model")), input=InputSpec(**inp), classes=data["classes"], layers=layers)

    @classmethod
    def from_yaml(cls, path_or_text: Union[str, Path]) -> "Topology":
        path = Path(path_or_text) if not str(path_or_text).lstrip().startswith(("{", "name", "input", "layers")) else None
        if path is not None:
            return cls.from_dict(read_yaml(path, TopologyError), str(path))
        return cls.from_dict(yaml.safe_load(str(path_or_text)))

    def summary(self) -> List[Dict[str, Any]]:
        """One row per layer: type, output shape, bits, params, MACs."""
        rows = []
        for layer, inp, out in zip(self.layers, self.in_shapes(), self.shapes()):
            cin = inp.size if isinstance(layer, Dense) else inp.channels
            rows.append({
                "type": layer.TYPE,
                "out": f"{out.length}x{out.channels}",
                "bits": f"w{layer.weight_bits}/a{out.bits}" if layer.COMPUTE else f"a{out.bits}",  # type: ignore[attr-defined]
                "params": layer.params_for(cin) if layer.COMPUTE else 0,  # type: ignore[attr-defined]
                "macs": layer.macs(inp),
            })
        return rows


def _layer_from_dict(item: Any, i: int, source: str) -> Layer:
    if not isinstance(item, dict) or "type" not in item:
        raise TopologyError(f"{source}: layer {i}: expected a mapping with a 'type' field")
    kind = item["type"]
    cls = LAYER_TYPES.get(kind)
    if cls is None:
        raise TopologyError(f"{source}: layer {i}: unknown layer type {kind!r} (known: {', '.join(LAYER_TYPES)})")
    allowed = {f.name for f in fields(cls)}
    kwargs = {k: v for k, v in item.items() if k != "type"}
    unknown = set(kwargs) - allowed
    if unknown:
        raise TopologyError(f"{source}: layer {i} ({kind}): unknown field(s) {sorted(unknown)}")
    for k, v in kwargs.items():
        if not isinstance(v, int) or isinstance(v, bool):
            raise TopologyError(f"{source}: layer {i} ({kind}): {k}={v!r} must be an integer")
    return cls(**kwargs)


def load_topology(path: Union[str, Path]) -> Topology:
    """Load and validate a topology YAML file."""
    return Topology.from_yaml(Path(path))
