"""Simulators of lab hardware: first-class backends the controller cannot tell from hardware.

* :mod:`~diamp.daq.sim.lab` — the simulated lab: SV input sources, Bell device, Z source.
* :mod:`~diamp.daq.sim.bell_device`, :mod:`~diamp.daq.sim.sv_sources`,
  :mod:`~diamp.daq.sim.rng` (per-block seeded streams), :mod:`~diamp.daq.sim._kernels`.
* :mod:`~diamp.daq.sim.scope` and :mod:`~diamp.daq.sim.scpi_server` — the loopback SCPI
  oscilloscope and AWG server reached through pyvisa-py.
* :mod:`~diamp.daq.sim.serial_handlers` — the ``qrngsim://`` pyserial URL handler.
* :mod:`~diamp.daq.sim.zi` — the in-process Zurich Instruments data server.
"""
