"""Fig. 3: Kendall tau between the rankings of the four AZ-NAS components (paper: ImageNet16-120).

Less correlated components carry complementary information; the paper reads trainability as the least
correlated one.
"""

from __future__ import annotations

import pandas as pd

from zcbench.analysis import components_of, kendall_matrix
from zcbench.figures.common import (COLUMN_IN, HEATMAP_CMAP, SYNTHETIC_NOTE, Built, Context, Recipe, figure,
                                    footnote, heatmap, panel_names, save_figure, write_csv)


def build(ctx: Context, datasets: list[str]) -> Built:
    built = Built()
    for dataset in datasets:
        addresses = components_of(ctx.view(dataset), ctx.labels(dataset)["az"])
        panel = ctx.panel(dataset, addresses)
        matrix = kendall_matrix(panel, addresses)
        names = panel_names(panel, addresses)
        stem = f"fig3-{dataset}"
        with figure(COLUMN_IN, 2.7) as fig:
            ax = fig.add_subplot()
            heatmap(ax, matrix, names, cmap=HEATMAP_CMAP, vmin=-1, vmax=1, cbar_label="Kendall $\\tau$")
            ax.set_title(f"AZ-NAS components, {dataset}")
            footnote(fig, [panel.rows] + ([SYNTHETIC_NOTE] if panel.synthetic else []))
            built.paths += save_figure(fig, ctx.out, stem)
        frame = pd.DataFrame(matrix, columns=addresses)
        frame.insert(0, "score", addresses)
        frame["n"] = panel.n
        built.paths.append(write_csv(frame, ctx.out, stem))
    return built


RECIPE = Recipe("fig3", "Kendall tau between the AZ-NAS components", build,
                paper_datasets=("ImageNet16-120",), required=("az",))
