"""Host-side user errors (see :class:`sustainml.errors.SustainmlError`)."""
from sustainml.errors import SustainmlError


class UserError(SustainmlError):
    """A host command got bad input (file, option, environment)."""


__all__ = ["SustainmlError", "UserError"]
