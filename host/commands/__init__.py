"""One module per ``sustainml`` sub-command (see :mod:`sustainml.host.cli`)."""
