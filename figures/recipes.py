"""`build_all`: build every registered figure and table a store supports and say, for the rest, which
command fills the gap. Recipes register themselves (`zcbench.registry.register_figure`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from zcbench.errors import ZCBenchError
from zcbench.figures.common import Context, Gap, Recipe
from zcbench.registry import get_benchmark, get_figure, list_figures
from zcbench.store import Store


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


def build_all(store: str | Path, out: str | Path, *, bench: str, dataset: str | None = None,
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
    recipes = [get_figure(n) for n in only] if only else [get_figure(n) for n in list_figures()]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    selected = frozenset(benchmark.resolve_archs(archs)) if archs else None
    ctx = Context(Path(store), benchmark, out, dataset, Path(gt_path) if gt_path else None, selected)
    outcomes = []
    for recipe in recipes:
        if recipe.paper_only and ctx.paper_values(recipe.name) is None:
            if only:  # asked for by name: say why not
                outcomes.append(Outcome(recipe, gaps=[Gap("-", f"drawn only for benchmarks whose paper reports "
                                                               f"it; {benchmark.name}'s does not", (), True)]))
            continue
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
