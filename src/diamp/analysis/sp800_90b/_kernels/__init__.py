"""numba kernels for the SP 800-90B estimators and tests (private).

Every kernel is compiled eagerly for explicit types with ``cache=True``; the public modules
check and normalise inputs (contiguous ``uint8`` arrays) before calling them.
"""
