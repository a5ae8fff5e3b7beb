"""pyserial URL handlers of diamp (``qrngsim://``), registered by :mod:`diamp.daq.qrng`."""
