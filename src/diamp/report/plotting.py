"""matplotlib for the reports: the Agg backend, and figures as PNG bytes.

matplotlib is imported inside the functions, so that importing a report does not slow down
``diamp --help``; the pure packages (``timing``, ``extractors``, ``analysis``) never import it.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["figure_png", "use_agg"]


def use_agg() -> None:
    """Select the non-interactive Agg backend (call before importing ``matplotlib.pyplot``)."""
    import matplotlib

    matplotlib.use("Agg")


def figure_png(fig: Figure, dpi: int) -> bytes:
    """The figure as PNG bytes (tight bounding box, ``dpi`` dots per inch); closes ``fig``."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
