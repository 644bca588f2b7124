"""CMS (mplhep) figure style, the "CMS Simulation Private Work" label, and saving as PNG + PDF.

Figures are plain ``matplotlib.figure.Figure`` objects drawn by the Agg canvas: nothing is registered
with pyplot, no GUI backend is ever touched (batch nodes have no display), and the style is applied in a
context so importing this module changes no global matplotlib state.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import matplotlib.style
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PNG_DPI = 100  # on screen as sharp as the page shows it; the PDF beside each PNG is for print
MAX_CURVE_POINTS = 2000


@contextlib.contextmanager
def cms_style() -> Iterator[None]:
    """mplhep's CMS rcParams for everything drawn and saved inside the block."""
    with matplotlib.style.context(mplhep.style.CMS):
        yield


def new_figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] | None = None,
               **subplots_kwargs) -> tuple[Figure, Axes | np.ndarray]:
    """A figure on the Agg canvas with its axes (call inside ``cms_style()``; kwargs go to ``subplots``)."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=True, **subplots_kwargs)


MIN_EFFECTIVE_EVENTS = 10  # below this many effective background events a working point is flagged


def label(ax: Axes, com: float = 13, lumi: float | None = None) -> None:
    """The experiment label above the axes: "CMS Simulation Private Work", the centre-of-mass energy and,
    for figures in expected events, the integrated luminosity (fb^-1)."""
    mplhep.cms.label(text="Private Work", data=False, com=com, lumi=None if lumi is None else f"{lumi:g}", ax=ax)


def shade_few_events(ax: Axes, x_min: float, eps_b_limit: float | None) -> None:
    """Grey out eps_B below ``eps_b_limit``, where fewer than MIN_EFFECTIVE_EVENTS effective background events
    remain, with a legend entry that says so."""
    if eps_b_limit is not None and eps_b_limit > x_min:
        ax.axvspan(x_min, min(eps_b_limit, 1.0), facecolor="0.85", hatch="//", edgecolor="0.6", linewidth=0, zorder=0,
                   label=f"< {MIN_EFFECTIVE_EVENTS} eff. bkg. events")


def thin_curve(x: np.ndarray, y: np.ndarray, n_max: int = MAX_CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most ~2 n_max points of a curve with increasing x, evenly spaced in log(x), keeping both ends.

    A ROC of a million jets has a million points; drawn as is it makes multi-MB PDFs that add nothing
    at print resolution. Curves whose x is not monotone (negative weights) are returned unchanged.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size <= n_max or np.any(np.diff(x) < 0):
        return x, y
    pos = x[x > 0]
    if pos.size == 0:
        return x[[0, -1]], y[[0, -1]]
    grid = np.geomspace(pos[0], x[-1], n_max)
    first = np.searchsorted(x, grid)  # with first - 1, both corners of every step of a staircase survive
    keep = np.unique(np.clip(np.concatenate([[0, x.size - 1], first, first - 1]), 0, x.size - 1))
    return x[keep], y[keep]


def save(fig: Figure, path_stem: str) -> list[str]:
    """Write ``path_stem``.png and ``path_stem``.pdf, release the figure, return both paths.

    The PDF carries no creation date, so the same figure gives the same bytes on a rerun.
    """
    directory = os.path.dirname(path_stem)
    if directory:
        os.makedirs(directory, exist_ok=True)
    paths = [f"{path_stem}.png", f"{path_stem}.pdf"]
    # tight: legends placed beside the axes are part of the image
    fig.savefig(paths[0], dpi=PNG_DPI, bbox_inches="tight")
    fig.savefig(paths[1], metadata={"CreationDate": None}, bbox_inches="tight")
    fig.clear()
    return paths
