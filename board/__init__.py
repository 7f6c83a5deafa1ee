"""sustainml.board."""
