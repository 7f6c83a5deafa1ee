"""Quantization-aware torch model built from the Topology IR.

Fake quantization uses torch's own ``torch.fake_quantize_per_tensor_affine`` (round half to
even, clipped straight-through gradient) with power-of-two scales, symmetric for weights,
signed or unsigned (after ReLU) for activations, so the hardware requantizes with shifts.

Life cycle of a model:

1. ``QATNet(topology)``: float warm-up (``quant_enabled = False``), then QAT with running
   max-abs observers for activation scales;
2. :meth:`QATNet.fold_batchnorm`: BatchNorm folded into the preceding conv/dense (BN stats
   frozen), fine-tuning continues on the folded weights;
3. :meth:`QATNet.freeze`: activation fracs fixed; from here ``forward`` in float64 computes
   exactly what the integer golden model computes, and :func:`sustainml.nas.export.export`
   writes the integers.

Activations flow as ``(N, C, L)`` tensors plus the frac (log2 of the inverse scale) of the
grid they sit on; Dense flattens time-major to match the hardware stream order.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .quantized import AVG_SHIFT, avg_mult
from .topology import (AvgPool1D, BatchNorm, Conv1D, Dense, DepthwiseSeparableConv1D, GlobalAvgPool1D, MaxPool1D,
                       ReLU, Shape, Topology)

ACC_LIMIT_BITS = 32  # bias integers live in the accumulator (at most 32 bits)


def qrange(bits: int, signed: bool) -> Tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def frac_for(max_abs: float, qmax: int) -> int:
    """Largest frac f such that max_abs * 2**f <= qmax (power-of-two scale)."""
    if max_abs <= 0 or not math.isfinite(max_abs):
        return 0
    return int(math.floor(math.log2(qmax / max_abs)))


def fake_quant(x: torch.Tensor, frac: int, bits: int, signed: bool) -> torch.Tensor:
    lo, hi = qrange(bits, signed)
    return torch.fake_quantize_per_tensor_affine(x, 2.0 ** -frac, 0, lo, hi)


def weight_frac(w: torch.Tensor, bits: int) -> int:
    return frac_for(float(w.detach().abs().max()), (1 << (bits - 1)) - 1)


def quant_weight(w: torch.Tensor, bits: int) -> Tuple[torch.Tensor, int]:
    """Symmetric power-of-two fake quantization of a weight tensor: (fake-quantized w, frac)."""
    f = weight_frac(w, bits)
    qmax = (1 << (bits - 1)) - 1
    return torch.fake_quantize_per_tensor_affine(w, 2.0 ** -f, 0, -qmax, qmax), f


class ActQuant(nn.Module):
    """Activation fake-quantizer with a running max-abs observer; frac frozen by :meth:`freeze`."""

    def __init__(self, bits: int, signed: bool, momentum: float = 0.1):
        super().__init__()
        self.bits, self.signed, self.momentum = bits, signed, momentum
        self.register_buffer("max_abs", torch.tensor(0.0))
        self.frozen_frac: Optional[int] = None
        self.enabled = True

    @property
    def qmax(self) -> int:
        return qrange(self.bits, self.signed)[1]

    def frac(self) -> int:
        if self.frozen_frac is not None:
            return self.frozen_frac
        return frac_for(float(self.max_abs), self.qmax)

    def observe(self, x: torch.Tensor) -> None:
        if self.training and self.frozen_frac is None:
            m = float(x.detach().abs().max())
            self.max_abs.fill_(m if float(self.max_abs) == 0 else (1 - self.momentum) * float(self.max_abs) + self.momentum * m)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, int]:
        self.observe(x)
        f = self.frac()
        if not self.enabled:
            return x, f
        return fake_quant(x, f, self.bits, self.signed), f

    def freeze(self, max_frac: Optional[int] = None) -> int:
        f = self.frac()
        self.frozen_frac = f if max_frac is None else min(f, max_frac)
        return self.frozen_frac


class ComputeBlock(nn.Module):
    """conv1d / dwconv1d / pwconv1d / dense (+ BatchNorm until folded, + fused ReLU) + requant."""

    def __init__(self, kind: str, cin: int, cout: int, kernel: int, stride: int, padding: int,
                 w_bits: int, out_bits: int, relu: bool, bn: bool, bias: bool):
        super().__init__()
        self.kind, self.stride, self.padding = kind, stride, padding
        self.w_bits, self.relu = w_bits, relu
        groups = cin if kind == "dwconv1d" else 1
        if kind == "dense":
            self.weight = nn.Parameter(torch.empty(cout, cin))
        else:
            self.weight = nn.Parameter(torch.empty(cout, cin // groups, kernel))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.groups = groups
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.bn: Optional[nn.Module] = nn.BatchNorm1d(cout) if bn else None
        self.act = ActQuant(out_bits, signed=not relu)
        self.quant_enabled = False

    def linear(self, x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor]) -> torch.Tensor:
        if self.kind == "dense":
            if x.dim() == 3:  # (N, C, L) → time-major flatten (t * C + c)
                x = x.transpose(1, 2).reshape(x.shape[0], -1)
            return F.linear(x, w, b)
        return F.conv1d(x, w, b, stride=self.stride, padding=self.padding, groups=self.groups)

    def forward(self, x: torch.Tensor, in_frac: int) -> Tuple[torch.Tensor, int]:
        w, b = self.weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype)
        if self.quant_enabled:
            w, w_frac = quant_weight(w, self.w_bits)
            if self.act.frozen_frac is not None and b is not None:
                lo, hi = qrange(ACC_LIMIT_BITS, True)
                b = torch.fake_quantize_per_tensor_affine(b, 2.0 ** -(in_frac + w_frac), 0, lo, hi)
        y = self.linear(x, w, b)
        if self.bn is not None:
            y = self.bn(y)
        if self.relu:
            y = F.relu(y)
        self.act.enabled = self.quant_enabled
        return self.act(y)

    def fold_batchnorm(self) -> None:
        """Fold BN (running stats) into weight and bias; BN disappears."""
        if self.bn is None:
            return
        bn = self.bn
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        shape = (-1,) + (1,) * (self.weight.dim() - 1)
        b0 = self.bias.detach() if self.bias is not None else torch.zeros_like(bn.running_mean)
        with torch.no_grad():
            self.weight.mul_(scale.view(shape))
        self.bias = nn.Parameter((b0 - bn.running_mean) * scale + bn.bias.detach())
        self.bn = None


class PoolBlock(nn.Module):
    """maxpool1d / avgpool1d / gap1d on the integer grid of their input."""

    def __init__(self, kind: str, window: int, stride: int, bits: int, signed: bool):
        super().__init__()
        self.kind, self.window, self.stride, self.bits, self.signed = kind, window, stride, bits, signed
        self.quant_enabled = False

    def forward(self, x: torch.Tensor, in_frac: int) -> Tuple[torch.Tensor, int]:
        if self.kind == "maxpool1d":
            return F.max_pool1d(x, self.window, self.stride), in_frac
        window = x.shape[-1] if self.kind == "gap1d" else self.window
        stride = 1 if self.kind == "gap1d" else self.stride
        s = x.unfold(-1, window, stride).sum(-1)
        if not self.quant_enabled:
            return s / window, in_frac
        y = s * (avg_mult(window) / float(1 << AVG_SHIFT))
        return fake_quant(y, in_frac, self.bits, self.signed), in_frac


class QATNet(nn.Module):
    """Torch model of a Topology; blocks are index-aligned with ``plan_stages(topology)``."""

    def __init__(self, topology: Topology):
        super().__init__()
        self.topology = topology
        self.input_quant = ActQuant(topology.input.bits, signed=True)
        blocks: List[nn.Module] = []
        shapes = topology.shapes()
        cur: Shape = topology.input_shape()
        layers = topology.layers
        for i, (layer, out) in enumerate(zip(layers, shapes)):
            bn = i + 1 < len(layers) and isinstance(layers[i + 1], BatchNorm)
            relu = not out.signed
            if isinstance(layer, Conv1D):
                blocks.append(ComputeBlock("conv1d", cur.channels, layer.filters, layer.kernel, layer.stride, layer.padding,
                                           layer.weight_bits, layer.act_bits, relu, bn, bias=True))
            elif isinstance(layer, DepthwiseSeparableConv1D):
                blocks.append(ComputeBlock("dwconv1d", cur.channels, cur.channels, layer.kernel, layer.stride, layer.padding,
                                           layer.weight_bits, layer.act_bits, False, False, bias=False))
                blocks.append(ComputeBlock("pwconv1d", cur.channels, layer.filters, 1, 1, 0,
                                           layer.weight_bits, layer.act_bits, relu, bn, bias=True))
            elif isinstance(layer, Dense):
                blocks.append(ComputeBlock("dense", cur.size, layer.units, 1, 1, 0,
                                           layer.weight_bits, layer.act_bits, relu, bn, bias=True))
            elif isinstance(layer, (MaxPool1D, AvgPool1D)):
                kind = "avgpool1d" if isinstance(layer, AvgPool1D) else "maxpool1d"
                blocks.append(PoolBlock(kind, layer.pool, layer.step, cur.bits, cur.signed))
            elif isinstance(layer, GlobalAvgPool1D):
                blocks.append(PoolBlock("gap1d", cur.length, 1, cur.bits, cur.signed))
            elif not isinstance(layer, (BatchNorm, ReLU)):
                raise TypeError(f"unsupported layer {layer.TYPE}")
            cur = out
        self.blocks = nn.ModuleList(blocks)
        self.set_quant(False)

    def set_quant(self, enabled: bool) -> None:
        """Enable/disable fake quantization (observers keep running either way)."""
        self.quant_enabled = enabled
        self.input_quant.enabled = enabled
        for b in self.blocks:
            b.quant_enabled = enabled

    def forward_with_frac(self, x: torch.Tensor) -> Tuple[torch.Tensor, int]:
        """``x``: (N, L, C) float samples. Returns logits (N, classes) and their frac."""
        h, f = self.input_quant(x.transpose(1, 2))
        for block in self.blocks:
            h, f = block(h, f)
        return h.reshape(h.shape[0], -1), f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_frac(x)[0]

    def compute_blocks(self) -> List[ComputeBlock]:
        return [b for b in self.blocks if isinstance(b, ComputeBlock)]

    def fold_batchnorm(self) -> None:
        for b in self.compute_blocks():
            b.fold_batchnorm()

    @torch.no_grad()
    def freeze(self) -> None:
        """Fix every activation frac (BN must be folded). Output fracs never exceed the
        accumulator's frac (the shift is never negative)."""
        if any(b.bn is not None for b in self.compute_blocks()):
            raise RuntimeError("fold_batchnorm() before freeze()")
        f = self.input_quant.freeze()
        for block in self.blocks:
            if isinstance(block, ComputeBlock):
                f = block.act.freeze(max_frac=f + weight_frac(block.weight, block.w_bits))
        self.set_quant(True)
