"""The thesis' tools for picking gamma, as PNG files (matplotlib's Agg renderer, no pyplot state).

- :func:`plot_c_vs_error`: each aggregated pose as a point (confidence C of eq. 3.4, error),
  retained (C >= gamma) and discarded (C < gamma) in two colours, with the gamma line (Fig. 3.8).
- :func:`plot_error_histogram`: pose frequency per error interval, retained and discarded
  stacked (Fig. 3.7).
- :func:`plot_c_histogram`: the distribution of C with the gamma line.

The error is the per-pose MPJPE normalised by head length (thesis 3.6.1) against ground
truth or against the clean reference. Every function takes ``(K,)`` arrays and a path and
returns the path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

RETAINED = "#7b3294"
DISCARDED = "#1b9e77"


def _figure(width: float = 6.0, height: float = 4.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    return fig, fig.add_subplot()


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _finite(conf: np.ndarray, error: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    c = np.asarray(conf, dtype=np.float64).reshape(-1)
    if error is None:
        return c[np.isfinite(c)], None
    e = np.asarray(error, dtype=np.float64).reshape(-1)
    ok = np.isfinite(c) & np.isfinite(e)
    return c[ok], e[ok]


def _title(ax, title: str | None, count: int) -> None:
    ax.set_title(f"{title} (n={count})" if title else f"n={count}", fontsize=10)


def plot_c_vs_error(
    conf: np.ndarray,
    error: np.ndarray,
    gamma: float,
    path: Path,
    *,
    title: str | None = None,
    error_line: float | None = 2.0,
) -> Path:
    """Fig. 3.8: error (y) against confidence C (x), coloured by C >= gamma, gamma as a vertical line.

    ``error_line`` draws the thesis' reference error (2.0 head lengths); None leaves it out.
    """
    c, e = _finite(conf, error)
    fig, ax = _figure()
    keep = c >= gamma
    ax.scatter(c[keep], e[keep], s=6, alpha=0.6, color=RETAINED, label=f"retained, C >= {gamma:g} ({keep.sum()})")
    ax.scatter(c[~keep], e[~keep], s=6, alpha=0.6, color=DISCARDED, label=f"discarded, C < {gamma:g} ({(~keep).sum()})")
    ax.axvline(gamma, color="red", lw=1)
    if error_line is not None:
        ax.axhline(error_line, color="grey", lw=0.8, ls="--")
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence C (eq. 3.4)")
    ax.set_ylabel("MPJPE / head length")
    ax.legend(fontsize=8, loc="upper right")
    _title(ax, title, len(c))
    return _save(fig, path)


def plot_error_histogram(
    conf: np.ndarray, error: np.ndarray, gamma: float, path: Path, *, title: str | None = None, bins: int = 20
) -> Path:
    """Fig. 3.7: number of poses per error interval, retained (C >= gamma) and discarded stacked."""
    c, e = _finite(conf, error)
    fig, ax = _figure()
    keep = c >= gamma
    top = float(np.quantile(e, 0.98)) if len(e) else 1.0
    edges = np.linspace(0.0, max(top, 1e-6), bins + 1)
    clipped = np.minimum(e, edges[-1])
    ax.hist(
        [clipped[keep], clipped[~keep]],
        bins=edges,
        stacked=True,
        color=[RETAINED, DISCARDED],
        label=[f"retained, C >= {gamma:g}", f"discarded, C < {gamma:g}"],
    )
    ax.set_xlabel("MPJPE / head length (last bin: at least)")
    ax.set_ylabel("poses")
    ax.legend(fontsize=8)
    _title(ax, title, len(c))
    return _save(fig, path)


def plot_c_histogram(conf: np.ndarray, gamma: float, path: Path, *, title: str | None = None, bins: int = 40) -> Path:
    """Histogram of confidence C over [0, 1] with the gamma line."""
    c, _ = _finite(conf)
    fig, ax = _figure()
    ax.hist(c, bins=np.linspace(0, 1, bins + 1), color=RETAINED)
    kept = 100 * np.mean(c >= gamma) if len(c) else 0.0
    ax.axvline(gamma, color="red", lw=1, label=f"gamma = {gamma:g}: keeps {kept:.0f} %")
    ax.set_xlabel("confidence C (eq. 3.4)")
    ax.set_ylabel("poses")
    ax.legend(fontsize=8)
    _title(ax, title, len(c))
    return _save(fig, path)


def confidence_plots(
    conf: np.ndarray, error: np.ndarray | None, gamma: float, out_dir: Path, prefix: str = "", title: str | None = None
) -> list[Path]:
    """Write the C histogram and, with errors, Fig. 3.8 and Fig. 3.7 into ``out_dir``; return the paths.

    Files: ``{prefix}c_hist.png``, ``{prefix}c_vs_error.png``, ``{prefix}error_hist.png``.
    """
    out_dir = Path(out_dir)
    paths = [plot_c_histogram(conf, gamma, out_dir / f"{prefix}c_hist.png", title=title)]
    if error is not None:
        paths.append(plot_c_vs_error(conf, error, gamma, out_dir / f"{prefix}c_vs_error.png", title=title))
        paths.append(plot_error_histogram(conf, error, gamma, out_dir / f"{prefix}error_hist.png", title=title))
    return paths
