"""Fig. 7: Kendall tau with the ground truth of the non-linear aggregate of every pair of proxies; single
proxies on the diagonal (black boxes), each row's best partner in a red box (paper: ImageNet16-120).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from zcbench.analysis import best_partners, pair_ensemble_matrix
from zcbench.figures.common import (ENSEMBLE_CMAP, FULL_IN, SYNTHETIC_NOTE, Built, Context, Recipe, box, figure,
                                    footnote, heatmap, panel_names, save_figure, shared_axes, write_csv)
from zcbench.figures.paper import NAMES
from zcbench.registry import register_figure


def build(ctx: Context, datasets: list[str]) -> Built:
    built = Built()
    for dataset in datasets:
        addresses, notes = shared_axes(ctx, dataset)
        built.notes += notes.notes
        panel = ctx.panel(dataset, addresses)
        matrix = pair_ensemble_matrix(panel, addresses, "nonlinear")
        best = best_partners(matrix)
        names = panel_names(panel, addresses)
        finite = matrix[np.isfinite(matrix)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        side = min(FULL_IN - 0.6, 1.3 + 0.42 * len(addresses))
        stem = f"fig7-{dataset}"
        with figure(side + 0.6, side) as fig:
            ax = fig.add_subplot()
            heatmap(ax, matrix, names, cmap=ENSEMBLE_CMAP, vmin=low, vmax=high,
                    cbar_label="Kendall $\\tau$ with ground truth")
            for i, j in enumerate(best):
                box(ax, i, i, "black")
                if j >= 0:
                    box(ax, i, int(j), "red")
            ax.set_title(f"Non-linear aggregation of proxy pairs, {dataset}")
            footnote(fig, [f"{panel.rows}; diagonal: the proxy alone (black); red: best partner of each row"]
                     + ([SYNTHETIC_NOTE] if panel.synthetic else []))
            built.paths += save_figure(fig, ctx.out, stem)
        frame = pd.DataFrame(matrix, columns=addresses)
        frame.insert(0, "score", addresses)
        frame["best_partner"] = [addresses[j] if j >= 0 else "" for j in best]
        frame["n"] = panel.n
        built.paths.append(write_csv(frame, ctx.out, stem))
    return built


RECIPE = register_figure(Recipe("fig7", "Pairwise non-linear ensembles: tau with the ground truth", build,
                                wanted=tuple(NAMES), min_proxies=2))
