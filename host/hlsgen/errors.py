"""Errors of the HLS generator and the C simulation (one line each, naming what and where)."""
from sustainml.errors import SustainmlError


class HlsGenError(SustainmlError, ValueError):
    """A model cannot be turned into a DNNU as given (bad width, shape, unrolling)."""


class ToolchainError(SustainmlError, RuntimeError):
    """A needed tool or header is missing, or the C++ compiler rejected generated code."""
