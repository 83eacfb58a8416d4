"""Fig. 4: predicted rank against ground-truth rank, one panel per proxy, tau and rho in each title
(paper: ImageNet16-120, the 1042-architecture accuracy-stratified subset).

Points far below the diagonal on the right are architectures a proxy overrates: the ones that make a
search pick a poor network.
"""

from __future__ import annotations

import math

import pandas as pd

from zcbench.aggregate import ranks
from zcbench.figures.common import (COLUMN_IN, FULL_IN, SYNTHETIC_NOTE, Built, Context, Recipe, figure,
                                    footnote, label_grid, panel_grid, panel_names, paper_order, rank_scatter,
                                    save_figure, paper_subset_panel, tau_title, write_csv)
from zcbench.registry import register_figure

PAPER_PROXIES = ("synflow", "naswot", "tenas", "zen", "gradsign", "zico", "az")


def build(ctx: Context, datasets: list[str]) -> Built:
    built = Built()
    for dataset in datasets:
        labels = ctx.labels(dataset)
        addresses = [labels[name] for name in paper_order(list(labels))]
        panel, addresses, notes = paper_subset_panel(ctx, "fig4", dataset, addresses)
        built.notes += notes.notes
        truth_rank = ranks(panel.truth)
        names = panel_names(panel, addresses)
        points = pd.DataFrame({"arch": panel.archs, "ground_truth": panel.truth, "ground_truth_rank": truth_rank})
        summary = []
        cols = min(4, len(addresses))
        rows = math.ceil(len(addresses) / cols)
        stem = f"fig4-{dataset}"
        with figure(max(COLUMN_IN, FULL_IN * cols / 4 + 0.2), 2.0 * rows + 0.35) as fig:
            axes = panel_grid(fig, len(addresses), cols)
            for ax, address, name in zip(axes, addresses, names):
                tau, rho = panel.correlation(address)
                predicted = ranks(panel.score(address))
                rank_scatter(ax, predicted, truth_rank, tau_title(name, tau, rho))
                points[f"{address}_rank"] = predicted
                summary.append({"score": address, "tau": tau, "rho": rho, "n": panel.n})
            label_grid(axes, cols)
            footnote(fig, [f"{dataset}: {panel.rows}; rank n = best"] + ([SYNTHETIC_NOTE] if panel.synthetic else []))
            built.paths += save_figure(fig, ctx.out, stem)
        built.paths.append(write_csv(points, ctx.out, stem))
        built.paths.append(write_csv(pd.DataFrame(summary), ctx.out, f"{stem}-tau"))
    return built


RECIPE = register_figure(Recipe("fig4", "Predicted vs ground-truth rank per proxy", build, wanted=PAPER_PROXIES,
                                min_proxies=1))
