"""Export a frozen :class:`QATNet` to the integer :class:`QuantizedModel` artifact."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import torch

from .qat import ACC_LIMIT_BITS, ComputeBlock, QATNet, qrange, weight_frac
from .quantized import QuantizedModel, plan_stages


def _int(t: torch.Tensor, frac: int, lo: int, hi: int) -> np.ndarray:
    v = t.detach().double() * (2.0 ** frac)
    return torch.clamp(torch.round(v), lo, hi).to(torch.int64).numpy()


@torch.no_grad()
def export(net: QATNet, metrics: Optional[Dict[str, Any]] = None) -> QuantizedModel:
    """Integer weights/biases, fracs and shifts of a frozen net (see ``QATNet.freeze``)."""
    if net.input_quant.frozen_frac is None:
        raise RuntimeError("freeze() the network before export")
    stages = plan_stages(net.topology)
    if len(stages) != len(net.blocks):
        raise RuntimeError("network blocks do not match the topology's stages")
    weights: Dict[str, np.ndarray] = {}
    frac = net.input_quant.frozen_frac
    for i, (stage, block) in enumerate(zip(stages, net.blocks)):
        stage.in_frac = frac
        if isinstance(block, ComputeBlock):
            w_frac = weight_frac(block.weight, block.w_bits)
            qmax = (1 << (block.w_bits - 1)) - 1
            w = _int(block.weight, w_frac, -qmax, qmax)
            if stage.kind == "conv1d":
                w = w.transpose(2, 1, 0)  # (Cout, Cin, K) → (K, Cin, Cout)
            elif stage.kind == "dwconv1d":
                w = w[:, 0, :].T  # (C, 1, K) → (K, C)
            elif stage.kind == "pwconv1d":
                w = w[:, :, 0].T  # (Cout, Cin, 1) → (Cin, Cout)
            else:
                w = w.T  # (Nout, Nin) → (Nin, Nout)
            weights[f"s{i}_w"] = np.ascontiguousarray(w)
            if block.bias is not None:
                weights[f"s{i}_b"] = _int(block.bias, frac + w_frac, *qrange(ACC_LIMIT_BITS, True))
            out_frac = block.act.frozen_frac
            stage.w_frac, stage.out_frac = w_frac, out_frac
            stage.shift = frac + w_frac - out_frac
            frac = out_frac
        else:
            stage.out_frac = frac
    return QuantizedModel(net.topology, net.input_quant.frozen_frac, stages, weights, dict(metrics or {}))
