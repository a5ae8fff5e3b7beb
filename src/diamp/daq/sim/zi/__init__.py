"""The in-process Zurich Instruments data server and its simulated UHFQA and SHFQA devices.

:mod:`~diamp.daq.sim.zi.nodes` (node documentation and the errors a server raises),
:mod:`~diamp.daq.sim.zi.device` (signal model, device base), :mod:`~diamp.daq.sim.zi.models`
(the UHFQA and SHFQA node trees and result loggers) and :mod:`~diamp.daq.sim.zi.server`
(the ``ziDAQServer`` subset zhinst-toolkit drives).
"""
