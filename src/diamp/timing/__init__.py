"""diamp.timing."""
