"""sustainml.host."""
