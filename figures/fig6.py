"""Fig. 6: Kendall tau between the rankings of every pair of stored proxies (paper: ImageNet16-120).

Strongly correlated proxies see the same trait of a network, so combining them gains little (Fig. 7).
"""

from __future__ import annotations

import pandas as pd

from zcbench.analysis import kendall_matrix
from zcbench.figures.common import (FULL_IN, HEATMAP_CMAP, SYNTHETIC_NOTE, Built, Context, Recipe, figure,
                                    footnote, heatmap, panel_names, proxy_axes, save_figure, write_csv)
from zcbench.figures.paper import NAMES


def build(ctx: Context, datasets: list[str]) -> Built:
    built = Built()
    for dataset in datasets:
        addresses = proxy_axes(ctx, dataset)
        panel = ctx.panel(dataset, addresses)
        matrix = kendall_matrix(panel, addresses)
        names = panel_names(panel, addresses)
        side = min(FULL_IN - 0.6, 1.3 + 0.42 * len(addresses))
        stem = f"fig6-{dataset}"
        with figure(side + 0.6, side) as fig:
            ax = fig.add_subplot()
            heatmap(ax, matrix, names, cmap=HEATMAP_CMAP, vmin=-1, vmax=1, cbar_label="Kendall $\\tau$")
            ax.set_title(f"Kendall $\\tau$ between proxy rankings, {dataset}")
            footnote(fig, [panel.rows] + ([SYNTHETIC_NOTE] if panel.synthetic else []))
            built.paths += save_figure(fig, ctx.out, stem)
        frame = pd.DataFrame(matrix, columns=addresses)
        frame.insert(0, "score", addresses)
        frame["n"] = panel.n
        built.paths.append(write_csv(frame, ctx.out, stem))
    return built


RECIPE = Recipe("fig6", "Kendall tau between every pair of proxies", build, paper_datasets=("ImageNet16-120",),
                wanted=tuple(NAMES), min_proxies=2)
