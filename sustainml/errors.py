"""The one base class of every error a user can meet.

Each subclass's message names what is wrong and where; the CLIs print it as one line (no
traceback) and exit 2. Lives in the top package so that ``sustainml.board`` can use it without
importing host or nas code.
"""


class SustainmlError(Exception):
    """Bad input or environment; the message is the whole story."""
