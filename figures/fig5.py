"""Fig. 5: predicted vs ground-truth rank for each AZ-NAS component, the linear and the non-linear
aggregate; points coloured by the non-linear (AZ-NAS) rank (paper: ImageNet16-120, stratified subset).

The colours show where the architectures a single component misranks end up once the components are
aggregated.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from zcbench.aggregate import ranks
from zcbench.analysis import components_of, correlation
from zcbench.figures.common import (FULL_IN, RANK_CMAP, SYNTHETIC_NOTE, Built, Context, Recipe, figure,
                                    footnote, label_grid, panel_grid, panel_names, rank_scatter, save_figure,
                                    paper_subset_panel, tau_title, write_csv)
from zcbench.registry import register_figure

AGGREGATES = {"linear": "Linear aggregation", "nonlinear": "Non-linear aggregation (AZ-NAS)"}


def build(ctx: Context, datasets: list[str]) -> Built:
    built = Built()
    for dataset in datasets:
        addresses = components_of(ctx.view(dataset), ctx.labels(dataset)["az"])
        panel, addresses, notes = paper_subset_panel(ctx, "fig5", dataset, addresses)
        built.notes += notes.notes
        scores = {a: panel.score(a) for a in addresses}
        scores.update({m: panel.ensemble(addresses, m) for m in AGGREGATES})
        names = panel_names(panel, addresses) + list(AGGREGATES.values())
        truth_rank = ranks(panel.truth)
        az_rank = ranks(scores["nonlinear"])
        points = pd.DataFrame({"arch": panel.archs, "ground_truth": panel.truth, "ground_truth_rank": truth_rank})
        summary = []
        stem = f"fig5-{dataset}"
        with figure(FULL_IN, 4.6) as fig:
            axes = panel_grid(fig, len(scores), 3)
            for ax, (key, score), name in zip(axes, scores.items(), names):
                tau, rho = correlation(score, panel.truth)
                predicted = ranks(score)
                rank_scatter(ax, predicted, truth_rank, tau_title(name, tau, rho), color=az_rank, cmap=RANK_CMAP)
                points[f"{key}_rank"] = predicted
                summary.append({"score": key, "tau": tau, "rho": rho, "n": panel.n})
            label_grid(axes, 3)
            bar = fig.colorbar(ScalarMappable(Normalize(1, panel.n), RANK_CMAP), ax=axes, shrink=0.6, aspect=30)
            bar.set_label(f"AZ-NAS (non-linear) rank, {panel.n} = best")
            footnote(fig, [f"{dataset}: {panel.rows}; rank n = best"] + ([SYNTHETIC_NOTE] if panel.synthetic else []))
            built.paths += save_figure(fig, ctx.out, stem)
        built.paths.append(write_csv(points, ctx.out, stem))
        built.paths.append(write_csv(pd.DataFrame(summary), ctx.out, f"{stem}-tau"))
    return built


RECIPE = register_figure(Recipe("fig5", "Predicted vs ground-truth rank: AZ-NAS components and aggregates", build,
                                required=("az",)))
