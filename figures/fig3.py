"""Fig. 3: Kendall tau between the rankings of the four AZ-NAS components (paper: ImageNet16-120).

Less correlated components carry complementary information; the paper reads trainability as the least
correlated one.
"""

from __future__ import annotations

from zcbench.analysis import components_of
from zcbench.figures.common import COLUMN_IN, Built, Context, Recipe, kendall_heatmap
from zcbench.registry import register_figure


def build(ctx: Context, datasets: list[str]) -> Built:
    built = Built()
    for dataset in datasets:
        addresses = components_of(ctx.view(dataset), ctx.labels(dataset)["az"])
        built.paths += kendall_heatmap(ctx, dataset, addresses, f"fig3-{dataset}", f"AZ-NAS components, {dataset}",
                                       COLUMN_IN, 2.7)
    return built


RECIPE = register_figure(Recipe("fig3", "Kendall tau between the AZ-NAS components", build, required=("az",)))
