"""sustainml.nas."""
