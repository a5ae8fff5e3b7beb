"""diamp.daq."""
