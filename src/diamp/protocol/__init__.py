"""diamp.protocol."""
