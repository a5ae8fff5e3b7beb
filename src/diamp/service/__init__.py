"""diamp.service."""
