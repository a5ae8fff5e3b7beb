"""diamp.extractors."""
