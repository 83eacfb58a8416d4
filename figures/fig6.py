"""Fig. 6: Kendall tau between the rankings of every pair of stored proxies (paper: ImageNet16-120).

Strongly correlated proxies see the same trait of a network, so combining them gains little (Fig. 7).
"""

from __future__ import annotations

from zcbench.figures.common import FULL_IN, Built, Context, Recipe, kendall_heatmap, shared_axes
from zcbench.figures.paper import NAMES
from zcbench.registry import register_figure


def build(ctx: Context, datasets: list[str]) -> Built:
    built = Built()
    for dataset in datasets:
        addresses, notes = shared_axes(ctx, dataset)
        built.notes += notes.notes
        side = min(FULL_IN - 0.6, 1.3 + 0.42 * len(addresses))
        built.paths += kendall_heatmap(ctx, dataset, addresses, f"fig6-{dataset}",
                                       f"Kendall $\\tau$ between proxy rankings, {dataset}", side + 0.6, side)
    return built


RECIPE = register_figure(Recipe("fig6", "Kendall tau between every pair of proxies", build, wanted=tuple(NAMES),
                                min_proxies=2))
