"""diamp.analysis."""
