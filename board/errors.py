"""Errors of the board runtime (all :class:`sustainml.errors.SustainmlError`: one line, no traceback)."""
from sustainml.errors import SustainmlError


class BoardError(SustainmlError):
    """The board runtime cannot do what was asked (no device, wrong input, missing IP)."""


class BundleError(BoardError):
    """A bundle is malformed, tampered with, or built for another part."""


class DnnuTimeoutError(BoardError):
    """The DNNU did not raise ap_done within the timeout (hung accelerator)."""


class SimError(BoardError):
    """The simulated board was misused (activated on a real board, unknown board name)."""
