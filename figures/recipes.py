"""The registry of figure and table recipes, and `build_all`, which builds what a store supports and
says, for the rest, which command fills the gap."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from zcbench.errors import ZCBenchError
from zcbench.figures import fig3, fig4, fig5, fig6, fig7, table1, table4, table5
from zcbench.figures.common import Context, Gap, Recipe
from zcbench.registry import get_benchmark
from zcbench.store import Store

RECIPES: dict[str, Recipe] = {m.RECIPE.name: m.RECIPE for m in (fig3, fig4, fig5, fig6, fig7, table1, table4, table5)}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ZCBenchError(f"unknown figure or table {name!r}; known: {', '.join(RECIPES)}") from None


@dataclass
class Outcome:
    """What happened to one recipe: the files written, the gaps (with commands), notes from the build."""

    recipe: Recipe
    paths: list[Path] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def built(self) -> bool:
        return bool(self.paths)


def build_all(store: str | Path, out: str | Path, *, bench: str = "nb201", dataset: str | None = None,
              only: Sequence[str] | None = None, gt_path: str | Path | None = None,
              archs: str | None = None) -> list[Outcome]:
    """Build every recipe (or those in `only`) the store supports into `out`.

    `archs` (a file or shipped subset name) restricts every correlation to those architectures, e.g. the
    uniform subset of a store that also holds the stratified one; the rank figures keep their own subset.
    """
    benchmark = get_benchmark(bench)
    if dataset is not None:
        benchmark.dataset(dataset)
    Store(store).check()
    recipes = [get_recipe(n) for n in only] if only else list(RECIPES.values())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    selected = frozenset(benchmark.resolve_archs(archs)) if archs else None
    ctx = Context(Path(store), benchmark, out, dataset, Path(gt_path) if gt_path else None, selected)
    outcomes = []
    for recipe in recipes:
        usable, gaps = ctx.plan(recipe)
        outcome = Outcome(recipe, gaps=gaps)
        outcomes.append(outcome)
        if not usable:
            continue
        try:
            built = recipe.build(ctx, usable)
        except ZCBenchError as exc:  # e.g. the proxies share no scored architecture: report it, go on
            outcome.gaps.append(Gap(", ".join(usable), str(exc), (), True))
            continue
        outcome.paths, outcome.notes = built.paths, built.notes
    return outcomes
