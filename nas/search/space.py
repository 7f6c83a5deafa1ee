"""The search space: a sketch of the design space the hardware library can build.

A candidate is a :class:`Genotype`: a chain of feature blocks, then global average pooling and
a Dense classifier. Each block is::

    Conv1D | DepthwiseSeparableConv1D (filters, kernel, stride, 'same' padding = kernel // 2)
    BatchNorm, ReLU
    MaxPool1D(pool)              # only when pool > 0

with its own weight and activation bit widths. :class:`SearchSpace` says which values each
gene may take; its YAML form (the ``space:`` section of a requirements file) uses the field
names below, and every field is optional (defaults shown)::

    blocks: [1, 4]                                  # min, max feature blocks
    layer_types: [Conv1D, DepthwiseSeparableConv1D]
    filters: [4, 8, 12, 16, 24, 32]
    kernels: [3, 5, 7, 9]
    strides: [1, 2]
    pools: [0, 2, 4]                                # MaxPool1D window after a block, 0 = none
    weight_bits: [2, 3, 4, 5, 6, 7, 8]              # legal: 2..8, 16
    act_bits: [2, 3, 4, 5, 6, 7, 8]
    input_bits: [8]
    classifier_weight_bits: [4, 5, 6, 7, 8]
    classifier_act_bits: [16]
    first_strides: []                               # strides allowed in block 0 ([] = strides)
    min_receptive_field: 0                          # input samples the last block must see at least

**Derived from the input** (:meth:`SearchSpace.for_input`, what a search uses): fields the
requirements do not set follow the input length ``L`` so that the receptive field can cover
the signal within a few thousand parameters, and long inputs are cut down early, as the HALF
AF design does with stride 4 in its first block::

    L <= 256          blocks [1, 4]   strides [1, 2]      first_strides = strides  min_receptive_field 0
    256 < L <= 1024   blocks [2, B]   strides [1, 2, 4]   first_strides [2, 4]     min_receptive_field ceil(L / 8)
    L > 1024          blocks [2, B]   strides [1, 2, 4]   first_strides [4]        min_receptive_field ceil(L / 8)

with ``B = clamp(2 + ceil(log4(L / 16)), 4, 8)`` and pools ``[0, 2, 4]`` (``[0, 2, 4, 8]`` above
1024). The receptive field (:meth:`Genotype.receptive_field`) counts convolutions, strides and
pooling; the global average pooling after the last block is not counted. Screening still
rejects what does not fit the board or the cheap constraints.

Mutations (:func:`mutate`): insert/remove a block, change filters/kernel/stride, swap Conv1D
and DepthwiseSeparableConv1D, change one layer's bit widths, add/remove pooling. A genotype is
turned into a :class:`Topology` (which validates it against the IR) by :meth:`Genotype.topology`;
:meth:`SearchSpace.check` also keeps it inside the space.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from sustainml.errors import SustainmlError

from ..topology import (LEGAL_BITS, BatchNorm, Conv1D, Dense, DepthwiseSeparableConv1D, GlobalAvgPool1D, InputSpec,
                        MaxPool1D, ReLU, Topology)

OPS = ("Conv1D", "DepthwiseSeparableConv1D")


class SpaceError(SustainmlError, ValueError):
    """A search-space description or a genotype is outside what the space allows."""


@dataclass(frozen=True)
class Block:
    """One feature block (see the module docstring)."""

    op: str
    filters: int
    kernel: int
    stride: int
    pool: int
    w_bits: int
    a_bits: int


@dataclass(frozen=True)
class Genotype:
    """A candidate network: blocks, classifier widths and input width."""

    blocks: Tuple[Block, ...]
    clf_w_bits: int
    clf_a_bits: int
    input_bits: int

    def topology(self, name: str, length: int, channels: int, classes: int) -> Topology:
        """The IR of this genotype (raises TopologyError if it is not a valid network)."""
        layers: List[Any] = []
        for b in self.blocks:
            cls = Conv1D if b.op == "Conv1D" else DepthwiseSeparableConv1D
            layers += [cls(filters=b.filters, kernel=b.kernel, stride=b.stride, padding=b.kernel // 2,
                           weight_bits=b.w_bits, act_bits=b.a_bits), BatchNorm(), ReLU()]
            if b.pool:
                layers.append(MaxPool1D(pool=b.pool))
        layers += [GlobalAvgPool1D(), Dense(units=classes, weight_bits=self.clf_w_bits, act_bits=self.clf_a_bits)]
        return Topology(name, InputSpec(length, channels, self.input_bits), classes, layers)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def receptive_field(self) -> int:
        """Input samples one output position of the last block depends on."""
        rf, jump = 1, 1
        for b in self.blocks:
            rf += (b.kernel - 1) * jump
            jump *= b.stride
            if b.pool:
                rf += (b.pool - 1) * jump
                jump *= b.pool
        return rf

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Genotype":
        return cls(tuple(Block(**b) for b in d["blocks"]), int(d["clf_w_bits"]), int(d["clf_a_bits"]),
                   int(d["input_bits"]))

    def key(self) -> str:
        """Stable identity (two equal genotypes build the same network)."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> str:
        parts = [f"{'C' if b.op == 'Conv1D' else 'DS'}{b.filters}k{b.kernel}"
                 + (f"s{b.stride}" if b.stride > 1 else "") + (f"p{b.pool}" if b.pool else "")
                 + f"/w{b.w_bits}a{b.a_bits}" for b in self.blocks]
        return " ".join(parts) + f" -> D/w{self.clf_w_bits}"


def from_topology(topo: Topology) -> Genotype:
    """The genotype of a topology written in the block grammar (e.g. the reference model)."""
    layers, blocks, i = topo.layers, [], 0
    where = f"topology {topo.name!r}"
    while i < len(layers) and isinstance(layers[i], (Conv1D, DepthwiseSeparableConv1D)):
        c = layers[i]
        if c.padding != c.kernel // 2:
            raise SpaceError(f"{where}: {topo.where(i)} padding={c.padding}, the space uses kernel // 2")
        if not (i + 2 < len(layers) and isinstance(layers[i + 1], BatchNorm) and isinstance(layers[i + 2], ReLU)):
            raise SpaceError(f"{where}: {topo.where(i)} must be followed by BatchNorm, ReLU")
        i += 3
        pool = 0
        if i < len(layers) and isinstance(layers[i], MaxPool1D) and layers[i].step == layers[i].pool:
            pool, i = layers[i].pool, i + 1
        blocks.append(Block(c.TYPE, c.filters, c.kernel, c.stride, pool, c.weight_bits, c.act_bits))
    rest = layers[i:]
    if len(rest) != 2 or not isinstance(rest[0], GlobalAvgPool1D) or not isinstance(rest[1], Dense):
        raise SpaceError(f"{where}: after the conv blocks the space expects GlobalAvgPool1D, Dense")
    return Genotype(tuple(blocks), rest[1].weight_bits, rest[1].act_bits, topo.input.bits)


def _ints(name: str, value: Any, where: str, legal: Optional[Sequence[int]] = None, lo: int = 0) -> Tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise SpaceError(f"{where}.{name}: expected a non-empty list of integers")
    for v in value:
        if not isinstance(v, int) or isinstance(v, bool) or v < lo or (legal is not None and v not in legal):
            allowed = f" (legal: {', '.join(map(str, legal))})" if legal else f" (must be >= {lo})"
            raise SpaceError(f"{where}.{name}: {v!r} is not allowed{allowed}")
    return tuple(sorted(set(value)))


@dataclass(frozen=True)
class SearchSpace:
    """Which values every gene may take (see the module docstring)."""

    blocks: Tuple[int, int] = (1, 4)
    layer_types: Tuple[str, ...] = OPS
    filters: Tuple[int, ...] = (4, 8, 12, 16, 24, 32)
    kernels: Tuple[int, ...] = (3, 5, 7, 9)
    strides: Tuple[int, ...] = (1, 2)
    pools: Tuple[int, ...] = (0, 2, 4)
    weight_bits: Tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
    act_bits: Tuple[int, ...] = (2, 3, 4, 5, 6, 7, 8)
    input_bits: Tuple[int, ...] = (8,)
    classifier_weight_bits: Tuple[int, ...] = (4, 5, 6, 7, 8)
    classifier_act_bits: Tuple[int, ...] = (16,)
    first_strides: Tuple[int, ...] = ()  # () = strides
    min_receptive_field: int = 0

    @property
    def block0_strides(self) -> Tuple[int, ...]:
        return self.first_strides or self.strides

    @classmethod
    def derived(cls, length: int) -> Dict[str, Any]:
        """The fields that follow the input length (module docstring)."""
        if length <= 256:
            return {}
        top = min(8, max(4, 2 + math.ceil(math.log(max(length / 16, 1.0), 4))))
        return {"blocks": (2, top), "strides": (1, 2, 4), "first_strides": (2, 4) if length <= 1024 else (4,),
                "pools": (0, 2, 4) if length <= 1024 else (0, 2, 4, 8), "min_receptive_field": math.ceil(length / 8)}

    @classmethod
    def for_input(cls, length: int, doc: Any = None, where: str = "space") -> "SearchSpace":
        """The space for inputs of ``length`` samples: derived fields, overridden by ``doc``."""
        given = cls.from_dict(doc, where)
        set_ = set(doc or {})
        return dataclasses.replace(given, **{k: v for k, v in cls.derived(length).items() if k not in set_})

    @classmethod
    def from_dict(cls, doc: Any, where: str = "space") -> "SearchSpace":
        if doc is None:
            return cls()
        if not isinstance(doc, Mapping):
            raise SpaceError(f"{where}: expected a mapping of gene name to allowed values")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(doc) - names
        if unknown:
            raise SpaceError(f"{where}: unknown field(s) {sorted(unknown)} (known: {', '.join(sorted(names))})")
        kw: Dict[str, Any] = {}
        for k, v in doc.items():
            if k == "blocks":
                lo_hi = _ints(k, v, where, lo=1)
                if len(v) != 2 or v[0] > v[1]:
                    raise SpaceError(f"{where}.blocks: expected [min, max] with min <= max")
                kw[k] = (lo_hi[0], lo_hi[-1])
            elif k == "layer_types":
                if not isinstance(v, list) or not v or any(t not in OPS for t in v):
                    raise SpaceError(f"{where}.layer_types: expected a non-empty list of {', '.join(OPS)}")
                kw[k] = tuple(dict.fromkeys(v))
            elif k == "min_receptive_field":
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise SpaceError(f"{where}.min_receptive_field: {v!r} must be an integer >= 0")
                kw[k] = v
            elif k == "first_strides" and v == []:
                kw[k] = ()
            elif k.endswith("bits"):
                kw[k] = _ints(k, v, where, LEGAL_BITS)
            elif k == "pools":
                kw[k] = _ints(k, v, where, lo=0)
                if any(p == 1 for p in kw[k]):
                    raise SpaceError(f"{where}.pools: 1 is not a pooling window (use 0 for none)")
            else:
                kw[k] = _ints(k, v, where, lo=1)
        return cls(**kw)

    def to_dict(self) -> Dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    # ------------------------------------------------------------------ membership
    def check(self, g: Genotype) -> Optional[str]:
        """None if ``g`` lies in the space, else why not."""
        if not self.blocks[0] <= len(g.blocks) <= self.blocks[1]:
            return f"{len(g.blocks)} blocks outside {list(self.blocks)}"
        for i, b in enumerate(g.blocks):
            for gene, value, allowed in (("op", b.op, self.layer_types), ("filters", b.filters, self.filters),
                                         ("kernel", b.kernel, self.kernels), ("stride", b.stride, self.strides),
                                         ("pool", b.pool, self.pools), ("w_bits", b.w_bits, self.weight_bits),
                                         ("a_bits", b.a_bits, self.act_bits)):
                if gene == "stride" and i == 0:
                    allowed = self.block0_strides
                if value not in allowed:
                    return f"block {i}: {gene}={value} not in {list(allowed)}"
        for gene, value, allowed in (("classifier w_bits", g.clf_w_bits, self.classifier_weight_bits),
                                     ("classifier a_bits", g.clf_a_bits, self.classifier_act_bits),
                                     ("input bits", g.input_bits, self.input_bits)):
            if value not in allowed:
                return f"{gene}={value} not in {list(allowed)}"
        if self.min_receptive_field and g.receptive_field() < self.min_receptive_field:
            return f"receptive field {g.receptive_field()} < min_receptive_field {self.min_receptive_field}"
        return None

    # ------------------------------------------------------------------ sampling
    def random_block(self, rng: np.random.Generator, first: bool = False) -> Block:
        c = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
        return Block(c(self.layer_types), c(self.filters), c(self.kernels),
                     c(self.block0_strides if first else self.strides), c(self.pools), c(self.weight_bits),
                     c(self.act_bits))

    def sample(self, rng: np.random.Generator) -> Genotype:
        """A uniformly random genotype (may still be an invalid network: check it)."""
        n = int(rng.integers(self.blocks[0], self.blocks[1] + 1))
        c = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
        return Genotype(tuple(self.random_block(rng, first=i == 0) for i in range(n)), c(self.classifier_weight_bits),
                        c(self.classifier_act_bits), c(self.input_bits))

    # ------------------------------------------------------------------ fixed-length encoding (baselines)
    def params(self) -> Dict[str, Tuple[Any, ...]]:
        """Categorical parameters of a fixed-length encoding (what Optuna or random search sample)."""
        p: Dict[str, Tuple[Any, ...]] = {"blocks": tuple(range(self.blocks[0], self.blocks[1] + 1))}
        for i in range(self.blocks[1]):
            p.update({f"b{i}_op": self.layer_types, f"b{i}_filters": self.filters, f"b{i}_kernel": self.kernels,
                      f"b{i}_stride": self.block0_strides if i == 0 else self.strides, f"b{i}_pool": self.pools,
                      f"b{i}_w_bits": self.weight_bits,
                      f"b{i}_a_bits": self.act_bits})
        p.update({"clf_w_bits": self.classifier_weight_bits, "clf_a_bits": self.classifier_act_bits,
                  "input_bits": self.input_bits})
        return p

    def decode(self, values: Mapping[str, Any]) -> Genotype:
        """The genotype of a fixed-length encoding (only the first ``blocks`` blocks are used)."""
        blocks = tuple(Block(*(values[f"b{i}_{g}"] for g in ("op", "filters", "kernel", "stride", "pool", "w_bits",
                                                            "a_bits")))
                       for i in range(int(values["blocks"])))
        return Genotype(blocks, values["clf_w_bits"], values["clf_a_bits"], values["input_bits"])


# ---------------------------------------------------------------------------------- mutations
Mutation = Callable[[SearchSpace, Genotype, np.random.Generator], Optional[Tuple[Genotype, str]]]


def _pick(rng: np.random.Generator, seq: Sequence[Any], exclude: Any = None) -> Any:
    options = [v for v in seq if v != exclude]
    return options[int(rng.integers(len(options)))] if options else None


def _with_block(g: Genotype, i: int, b: Block) -> Genotype:
    blocks = list(g.blocks)
    blocks[i] = b
    return dataclasses.replace(g, blocks=tuple(blocks))


def _insert(space: SearchSpace, g: Genotype, rng: np.random.Generator):
    if len(g.blocks) >= space.blocks[1]:
        return None
    i = int(rng.integers(len(g.blocks) + 1))
    ref = g.blocks[min(i, len(g.blocks) - 1)] if g.blocks else space.random_block(rng)
    new = dataclasses.replace(ref, stride=1, pool=0, kernel=_pick(rng, space.kernels),
                              filters=_pick(rng, space.filters) if 1 not in space.strides else ref.filters)
    if 1 not in space.strides:
        new = dataclasses.replace(new, stride=_pick(rng, space.strides))
    if 0 not in space.pools:
        new = dataclasses.replace(new, pool=_pick(rng, space.pools))
    blocks = list(g.blocks)
    blocks.insert(i, new)
    return dataclasses.replace(g, blocks=tuple(blocks)), f"insert block {i}"


def _remove(space: SearchSpace, g: Genotype, rng: np.random.Generator):
    if len(g.blocks) <= space.blocks[0]:
        return None
    i = int(rng.integers(len(g.blocks)))
    return dataclasses.replace(g, blocks=g.blocks[:i] + g.blocks[i + 1:]), f"remove block {i}"


def _gene(gene: str, values: Callable[[SearchSpace], Sequence[int]]) -> Mutation:
    def mutate(space: SearchSpace, g: Genotype, rng: np.random.Generator):
        if not g.blocks:
            return None
        i = int(rng.integers(len(g.blocks)))
        old = getattr(g.blocks[i], gene)
        seq = sorted(values(space))
        # prefer a neighbouring value: small steps keep inherited weights useful
        pos = seq.index(old) if old in seq else int(rng.integers(len(seq)))
        near = [seq[j] for j in (pos - 1, pos + 1) if 0 <= j < len(seq) and seq[j] != old]
        new = _pick(rng, near) if near and rng.random() < 0.7 else _pick(rng, seq, exclude=old)
        if new is None:
            return None
        return _with_block(g, i, dataclasses.replace(g.blocks[i], **{gene: new})), f"block {i} {gene} {old}->{new}"
    return mutate


def _swap_op(space: SearchSpace, g: Genotype, rng: np.random.Generator):
    if len(space.layer_types) < 2 or not g.blocks:
        return None
    i = int(rng.integers(len(g.blocks)))
    new = _pick(rng, space.layer_types, exclude=g.blocks[i].op)
    return _with_block(g, i, dataclasses.replace(g.blocks[i], op=new)), f"block {i} {g.blocks[i].op}->{new}"


def _bits(space: SearchSpace, g: Genotype, rng: np.random.Generator):
    i = int(rng.integers(len(g.blocks) + 1))  # == len: the classifier
    if i == len(g.blocks):
        new = _pick(rng, space.classifier_weight_bits, exclude=g.clf_w_bits)
        if new is None:
            return None
        return dataclasses.replace(g, clf_w_bits=new), f"classifier w_bits {g.clf_w_bits}->{new}"
    gene, seq = (("w_bits", space.weight_bits), ("a_bits", space.act_bits))[int(rng.integers(2))]
    old = getattr(g.blocks[i], gene)
    new = _pick(rng, seq, exclude=old)
    if new is None:
        return None
    return _with_block(g, i, dataclasses.replace(g.blocks[i], **{gene: new})), f"block {i} {gene} {old}->{new}"


def _pooling(space: SearchSpace, g: Genotype, rng: np.random.Generator):
    if not g.blocks:
        return None
    i = int(rng.integers(len(g.blocks)))
    old = g.blocks[i].pool
    new = _pick(rng, [p for p in space.pools if (p == 0) != (old == 0)] or space.pools, exclude=old)
    if new is None:
        return None
    what = "remove pooling" if new == 0 else ("add pooling" if old == 0 else f"pool {old}->{new}")
    return _with_block(g, i, dataclasses.replace(g.blocks[i], pool=new)), f"block {i} {what} ({new})"


MUTATIONS: Dict[str, Mutation] = {
    "insert": _insert,
    "remove": _remove,
    "filters": _gene("filters", lambda s: s.filters),
    "kernel": _gene("kernel", lambda s: s.kernels),
    "stride": _gene("stride", lambda s: s.strides),
    "swap_op": _swap_op,
    "bits": _bits,
    "pooling": _pooling,
}


def mutate(space: SearchSpace, g: Genotype, rng: np.random.Generator, tries: int = 20) -> Optional[Tuple[Genotype, str]]:
    """One random mutation of ``g`` that changes it and stays in ``space`` (None if none applies)."""
    names = list(MUTATIONS)
    for _ in range(tries):
        out = MUTATIONS[names[int(rng.integers(len(names)))]](space, g, rng)
        if out is not None and out[0] != g and space.check(out[0]) is None:
            return out
    return None
