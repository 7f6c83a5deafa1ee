"""HLS generation: compose a DNNU from a quantized model and C-simulate it bit-exactly.

* :func:`emit_dnnu` writes ``dnnu.cpp``/``config.h``/``weights.h`` using the library in
  ``hls/include/sustainml`` (integer or FP8 E5M2 I/O; :func:`fp8_golden` is the FP8 reference);
* :func:`compile_dnnu` / :func:`run_dnnu` build (cached) and run its C simulation via ctypes;
* :func:`compile_stages` builds single-module test benches;
* :func:`find_ap_types` says where the Xilinx ap_types headers come from.
"""
from .csim import CsimLibrary, StageBench, compile_dnnu, compile_sources, compile_stages, run_dnnu
from .dnnu_io import DnnuIO, fp8_golden
from .emit import CSIM_SYMBOL, REGISTERS, TOP, emit_dnnu, registers
from .errors import HlsGenError, ToolchainError
from .harness import StageCase
from .toolchain import ApTypes, find_ap_types

__all__ = ["ApTypes", "CSIM_SYMBOL", "CsimLibrary", "DnnuIO", "HlsGenError", "REGISTERS", "StageBench", "StageCase",
           "TOP", "ToolchainError", "compile_dnnu", "compile_sources", "compile_stages", "emit_dnnu", "find_ap_types",
           "fp8_golden", "registers", "run_dnnu"]
