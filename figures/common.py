"""What every figure and table recipe shares: the recipe contract, the store context, one plotting style,
display names, and the writers (PNG + PDF + CSV for figures, CSV + Markdown for tables).

Figures use matplotlib's object API (`Figure`, no pyplot) under a local rc context, so building them
never touches global matplotlib state or needs a display.
"""

from __future__ import annotations

import math
import shlex
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from zcbench.analysis import Panel, make_panel, proxy_labels, shipped_subset
from zcbench.benchmark import Benchmark
from zcbench.errors import ZCBenchError
from zcbench.figures.paper import AZ_SYMBOLS, NAMES
from zcbench.groundtruth import truth_for
from zcbench.registry import get_proxy
from zcbench.store import DatasetView, EntryView, Store

# ---------------------------------------------------------------------------------------------------
# Style: paper size (a CVPR column is 3.25 in, the full width 6.9 in), 8 pt text
# ---------------------------------------------------------------------------------------------------
COLUMN_IN = 3.25
FULL_IN = 6.9
SYNTHETIC_MARK = "\u2020"  # dagger after a name scored on synthetic batches
SYNTHETIC_NOTE = (f"{SYNTHETIC_MARK} scored on synthetic batches (Gaussian images, random labels): "
                  "not comparable with the paper")

RC = {
    **sns.axes_style("ticks"),
    **sns.plotting_context("paper"),
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "figure.titlesize": 9, "axes.titlepad": 4,
    "savefig.dpi": 300, "savefig.bbox": "tight", "savefig.pad_inches": 0.03,
    "pdf.fonttype": 42, "ps.fonttype": 42,  # embed TrueType: text stays selectable in the PDF
    "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.major.size": 2.5, "ytick.major.size": 2.5,
    "axes.linewidth": 0.6, "lines.linewidth": 1.0,
}
HEATMAP_CMAP = "RdBu_r"    # signed correlations between proxies: diverging, 0 is white
ENSEMBLE_CMAP = "YlGnBu"   # tau with the ground truth of ensembles: sequential, darker is better
# Fig. 5: light yellow (worst) to dark blue (best AZ-NAS rank), as in the paper; the palest tenth is cut so
# that the worst architectures stay visible on white
RANK_CMAP = ListedColormap(mpl.colormaps["YlGnBu"](np.linspace(0.12, 1.0, 256)), name="YlGnBu_visible")


@contextmanager
def figure(width: float, height: float) -> Iterator[Figure]:
    """A figure in the shared style; save it inside the `with` block so the style applies to the files."""
    with mpl.rc_context(RC):
        yield Figure(figsize=(width, height), layout="constrained")


def save_figure(fig: Figure, out: Path, stem: str) -> list[Path]:
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for path in paths:
        fig.savefig(path)
    return paths


def write_csv(frame: pd.DataFrame, out: Path, stem: str) -> Path:
    """Every number behind a figure or table, beside it."""
    path = out / f"{stem}.csv"
    frame.to_csv(path, index=False, float_format="%.6g")
    return path


def write_markdown(text: str, out: Path, stem: str) -> Path:
    path = out / f"{stem}.md"
    path.write_text(text.rstrip() + "\n")
    return path


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table cell; a dash where there is none (not measured, undefined, not in the paper)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def fmt_pm(mean: float | None, std: float | None, digits: int = 2) -> str:
    return "–" if mean is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


# ---------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------
def display_name(address: str, synthetic: bool = False) -> str:
    """The paper's name of an addressed score: ZiCo, #Params, $s^E$ for az.expressivity, ..."""
    label, _, component = address.partition(".")
    name = label.partition("@")[0]
    if component and name == "az" and component in AZ_SYMBOLS:
        text = f"$s^{AZ_SYMBOLS[component]}$"
    elif component:
        text = f"{NAMES.get(name, name)}.{component}"
    else:
        text = NAMES.get(name, name)
    return text + (SYNTHETIC_MARK if synthetic else "")


def panel_names(panel: Panel, addresses: Sequence[str]) -> list[str]:
    return [display_name(a, panel.columns[a].synthetic) for a in addresses]


def paper_order(names: Sequence[str]) -> list[str]:
    """Proxy names in the paper's Table 1 order, others after it alphabetically."""
    known = [n for n in NAMES if n in names]
    return known + sorted(n for n in names if n not in NAMES)


def tau_title(name: str, tau: float, rho: float) -> str:
    return f"{name}\n$\\tau$ = {fmt(tau)}, $\\rho$ = {fmt(rho)}"


def footnote(fig: Figure, lines: Sequence[str]) -> None:
    """Small print under a figure: which architectures, synthetic-data warnings."""
    if lines:
        fig.supxlabel("\n".join(lines), fontsize=6, color="0.35", x=0.0, ha="left")


# ---------------------------------------------------------------------------------------------------
# Shared plots
# ---------------------------------------------------------------------------------------------------
def heatmap(ax: Axes, matrix: np.ndarray, names: Sequence[str], *, cmap: str, vmin: float, vmax: float,
            cbar_label: str = "") -> None:
    """Annotated square heatmap; annotations shrink with the matrix so that they stay inside their cells."""
    k = len(names)
    size = 7 if k <= 6 else 6 if k <= 10 else 5
    digits = 3 if k <= 10 else 2
    sns.heatmap(matrix, ax=ax, cmap=cmap, vmin=vmin, vmax=vmax, square=True,
                annot=True, fmt=f".{digits}f", annot_kws={"fontsize": size}, linewidths=0.5, linecolor="white",
                xticklabels=names, yticklabels=names, cbar_kws={"label": cbar_label, "shrink": 0.8})
    ax.tick_params(length=0)
    ax.set_xticklabels(ax.get_xticklabels(), rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticklabels(ax.get_yticklabels(), rotation=0)


def box(ax: Axes, row: int, col: int, color: str, lw: float = 1.5, inset: float = 0.07) -> None:
    """Outline one heatmap cell, inset so that the outlines of neighbouring cells stay apart."""
    ax.add_patch(Rectangle((col + inset, row + inset), 1 - 2 * inset, 1 - 2 * inset, fill=False, edgecolor=color,
                           lw=lw, clip_on=False))


def panel_grid(fig: Figure, k: int, cols: int) -> list[Axes]:
    """k square panels in rows of `cols`; axis labels on the outer panels only, tick labels on all (every
    panel has the same rank range, and a missing neighbour must not leave a panel without ticks)."""
    rows = -(-k // cols)
    axes = list(fig.subplots(rows, cols, squeeze=False).flat)
    for ax in axes[k:]:
        ax.set_visible(False)
    return axes[:k]


def label_grid(axes: Sequence[Axes], cols: int) -> None:
    """Keep the x label only under the lowest panel of each column, the y label only on the first column."""
    k = len(axes)
    for i, ax in enumerate(axes):
        if i + cols < k:
            ax.set_xlabel("")
        if i % cols:
            ax.set_ylabel("")


def rank_scatter(ax: Axes, predicted: np.ndarray, truth_rank: np.ndarray, title: str, *,
                 color: np.ndarray | None = None, cmap: str | ListedColormap | None = None) -> None:
    """Predicted rank (x) against ground-truth rank (y) with the y = x line; ranks ascend (n = best), as in
    the paper, so an overrated architecture sits bottom right."""
    n = len(predicted)
    order = np.argsort(color, kind="stable") if color is not None else slice(None)  # best (dark) points on top
    ax.scatter(predicted[order], truth_rank[order], s=2, linewidths=0, alpha=0.8, rasterized=True,
               c=None if color is None else color[order], cmap=cmap, color="C0" if color is None else None)
    ax.plot([1, n], [1, n], color="0.3", lw=0.6, ls="--")
    ax.set_xlim(0.5, n + 0.5)
    ax.set_ylim(0.5, n + 0.5)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.set_xlabel("predicted rank")
    ax.set_ylabel("ground-truth rank")
    ax.locator_params(nbins=4)


# ---------------------------------------------------------------------------------------------------
# Recipes and the store they read
# ---------------------------------------------------------------------------------------------------
@dataclass
class Built:
    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Recipe:
    """A figure or table and what it needs from the store; register it with `zcbench.registry.register_figure`.

    `required`: proxies without which it cannot be built; `wanted`: the paper's full set (missing ones
    are reported with the command that scores them, not fatal); `min_proxies`: distinct stored proxies
    needed. Which datasets (and subset) it is drawn on, and the numbers it is compared with, are the
    benchmark's facts (`Benchmark.paper`); without them it is drawn on every dataset of the benchmark.
    """

    name: str
    title: str
    build: Callable[["Context", list[str]], Built]
    required: tuple[str, ...] = ()
    wanted: tuple[str, ...] = ()
    min_proxies: int = 1
    #: drawn only for benchmarks whose paper reports it (`Benchmark.paper.values` has it), e.g. the NDS table
    paper_only: bool = False


@dataclass(frozen=True)
class Gap:
    """Why a recipe cannot use a dataset (or is incomplete there), and the commands that fill it."""

    dataset: str
    reason: str
    commands: tuple[str, ...]
    fatal: bool


@dataclass
class Context:
    """The store, benchmark and output folder a recipe works with; views and ground truth are read once."""

    store: Path
    bench: Benchmark
    out: Path
    dataset: str | None = None   # the caller's --dataset, overriding each recipe's paper datasets
    gt_path: Path | None = None
    archs: frozenset[str] | None = None  # the caller's --archs: every panel is restricted to them
    _views: dict[str, DatasetView | None] = field(default_factory=dict)
    _truth: dict[str, np.ndarray | None] = field(default_factory=dict)

    def view(self, dataset: str) -> DatasetView | None:
        if dataset not in self._views:
            self._views[dataset] = Store(self.store).read(self.bench.name, dataset)
        return self._views[dataset]

    def truth(self, dataset: str) -> np.ndarray | None:
        if dataset not in self._truth:
            view = self.view(dataset)
            try:
                self._truth[dataset] = None if view is None else truth_for(view, self.bench, None, self.gt_path,
                                                                            self.store)[0]
            except ZCBenchError:
                self._truth[dataset] = None
        return self._truth[dataset]

    def labels(self, dataset: str) -> dict[str, str]:
        """Stored proxy name -> the entry label used for it."""
        view = self.view(dataset)
        return proxy_labels(view) if view is not None else {}

    def datasets(self, recipe: Recipe) -> list[str]:
        """The caller's --dataset, else those the benchmark's paper draws the recipe on, else all."""
        if self.dataset is not None:
            return [self.dataset]
        paper = self.bench.paper
        if paper is not None and recipe.name in paper.datasets:
            return list(paper.datasets[recipe.name])
        return list(self.bench.datasets)

    def paper_values(self, recipe: str) -> Any:
        """The benchmark's paper numbers for a recipe (its documented format), or None."""
        return self.bench.paper.values.get(recipe) if self.bench.paper is not None else None

    def paper_subset(self, recipe: str) -> str | None:
        """The shipped subset the benchmark's paper draws a recipe on, or None."""
        return self.bench.paper.subsets.get(recipe) if self.bench.paper is not None else None

    def panel(self, dataset: str, addresses: Sequence[str], archs: Sequence[str] | None = None) -> Panel:
        """Scores on the architectures they all scored (within `archs`, else the caller's --archs)."""
        view, truth = self.view(dataset), self.truth(dataset)
        assert view is not None and truth is not None, "plan() admits only datasets with scores and truth"
        return make_panel(view, truth, addresses, archs=archs if archs is not None else self.archs, bench=self.bench)

    def entry(self, dataset: str, name: str) -> EntryView:
        return self.view(dataset).entries[self.labels(dataset)[name]]

    # ---- gaps ------------------------------------------------------------------------------------
    def archs_hint(self, dataset: str) -> str | None:
        """The --archs of a command that scores what the stored proxies scored (None: the whole space)."""
        if self.archs is not None:  # the caller's --archs: score exactly those
            return shipped_subset(self.bench, sorted(self.archs))
        view = self.view(dataset)
        if view is None or not view.entries:
            return None
        scored = np.zeros(len(view.archs), dtype=bool)
        for entry in view.entries.values():
            scored |= entry.scored()
        archs = [a for a, s in zip(view.archs, scored) if s]
        if not self.bench.enumerable or len(archs) >= len(self.bench):  # a file-defined space ships no subsets
            return None
        return shipped_subset(self.bench, archs)

    def score_commands(self, dataset: str, proxies: Sequence[str], archs: str | None = None) -> list[str]:
        """`zcbench score` commands for `proxies`; proxies that need real batches get their own with --data-root."""
        base = (f"zcbench score --store {shlex.quote(str(self.store))} --bench {self.bench.name} "
                f"--dataset {shlex.quote(dataset)}")
        archs = archs if archs is not None else self.archs_hint(dataset)
        tail = f" --archs {shlex.quote(archs)}" if archs else ""
        real = [p for p in proxies if _needs_real_batch(p)]
        plain = [p for p in proxies if p not in real]
        # real batches come from the dataset's reader, or are synthetic where it has none
        data = " --data-root DIR" if self.bench.dataset(dataset).real_data is not None else " --synthetic-data"
        commands = []
        for group, extra in ((plain, ""), (real, data)):
            if group:
                commands.append(base + "".join(f" --proxy {p}" for p in group) + tail + extra)
        return commands

    def gt_command(self) -> str:
        args = f" {self.bench.gt_import_args}" if self.bench.gt_import_args else ""
        return f"zcbench gt import --store {shlex.quote(str(self.store))} --bench {self.bench.name}{args}"

    def plan(self, recipe: Recipe) -> tuple[list[str], list[Gap]]:
        """The datasets the recipe can use, and the gaps (fatal for a dataset, or only incomplete)."""
        usable, gaps = [], []
        for dataset in self.datasets(recipe):
            if dataset not in self.bench.datasets:
                gaps.append(Gap(dataset, f"benchmark {self.bench.name} has no dataset {dataset}", (), True))
                continue
            have = set(self.labels(dataset))
            missing = [p for p in recipe.required if p not in have]
            wanted = [p for p in recipe.wanted if p not in have and p not in missing]
            short = len(have) + len(missing) < recipe.min_proxies
            if missing or short:
                need = missing + (wanted if short else [])
                reason = (f"needs {', '.join(missing)}" if missing else
                          f"needs at least {recipe.min_proxies} prox{'ies' if recipe.min_proxies > 1 else 'y'}")
                reason += f" (the store has {', '.join(sorted(have)) or 'none'})"
                gaps.append(Gap(dataset, reason, tuple(self.score_commands(dataset, need)), True))
                continue
            if self.truth(dataset) is None:
                gaps.append(Gap(dataset, "no ground truth", (self.gt_command(),), True))
                continue
            usable.append(dataset)
            if wanted:
                gaps.append(Gap(dataset, f"built without {', '.join(wanted)} (in the paper)",
                                tuple(self.score_commands(dataset, wanted)), False))
        return usable, gaps


def _needs_real_batch(proxy: str) -> bool:
    try:
        return "real_batch" in get_proxy(proxy).spec.needs
    except ZCBenchError:
        return False


def paper_subset_panel(ctx: Context, recipe: str, dataset: str,
                       addresses: Sequence[str]) -> tuple[Panel, list[str], Built]:
    """Draw a recipe on the subset the benchmark's paper uses for it (e.g. the accuracy-stratified subset of
    Figs. 4 and 5). Keep the scores that cover all of it and drop the others with a note and the command
    that scores them; if none covers it, or there is no such subset, draw every score on the architectures
    they all scored. Returns the panel, the addresses it holds, and the notes."""
    notes = Built()
    name = ctx.paper_subset(recipe)
    path = ctx.bench.subsets().get(name) if name else None
    if path is None:
        return ctx.panel(dataset, addresses), list(addresses), notes
    subset = ctx.bench.read_arch_file(path)
    covering = [a for a in addresses if _shared_count(ctx, dataset, [a], subset) == len(subset)]
    missing = [a for a in addresses if a not in covering]
    if not missing:
        return ctx.panel(dataset, addresses, archs=subset), list(addresses), notes
    proxies = sorted({ctx.view(dataset).entries[a.partition(".")[0]].name for a in missing})
    command = "For the paper's subset: " + " ; ".join(ctx.score_commands(dataset, proxies, name))
    if covering:
        notes.notes.append(f"{', '.join(proxies)} left out: not scored on all of {name}. {command}")
        return ctx.panel(dataset, covering, archs=subset), covering, notes
    notes.notes.append(f"{name} is not fully scored; drawn on the common scored architectures. {command}")
    return ctx.panel(dataset, addresses), list(addresses), notes


def proxy_axes(ctx: Context, dataset: str) -> list[str]:
    """The axes of Figs. 6 and 7: every stored proxy's own score in the paper's order, AZ-NAS as its four
    components (the paper's s^E, s^P, s^T, s^C)."""
    from zcbench.analysis import components_of

    labels = ctx.labels(dataset)
    axes = [labels[n] for n in paper_order(list(labels)) if n != "az"]
    if "az" in labels:
        axes += components_of(ctx.view(dataset), labels["az"])
    return axes


def shared_axes(ctx: Context, dataset: str) -> tuple[list[str], Built]:
    """The `proxy_axes` of a figure drawn on the architectures all of them scored (Figs. 6 and 7), less any
    proxy that alone at least halves that set (e.g. TE-NAS scored on the first 200 of a subset the others
    cover more widely), with a note and the command that scores it. A proxy's components go together."""
    notes = Built()
    kept = proxy_axes(ctx, dataset)
    owner = {a: a.partition(".")[0] for a in kept}  # the store entry (label) of each score
    while len({owner[a] for a in kept}) > 2:  # leave at least a pair
        shared = _shared_count(ctx, dataset, kept)
        proxies = sorted({owner[a] for a in kept})
        without = {p: _shared_count(ctx, dataset, [a for a in kept if owner[a] != p]) for p in proxies}
        proxy = max(proxies, key=without.get)
        if without[proxy] < 2 * max(shared, 1):
            break
        notes.notes.append(f"{proxy} left out: the scores share {shared} architectures with it and "
                           f"{without[proxy]} without it. To include it: "
                           + " ; ".join(ctx.score_commands(dataset, [ctx.view(dataset).entries[proxy].name])))
        kept = [a for a in kept if owner[a] != proxy]
    return kept, notes


def _shared_count(ctx: Context, dataset: str, addresses: Sequence[str], archs: Sequence[str] | None = None) -> int:
    """How many architectures (within `archs`, else the caller's --archs) all of `addresses` scored."""
    try:
        return ctx.panel(dataset, addresses, archs=archs).n
    except ZCBenchError:
        return 0


def kendall_heatmap(ctx: "Context", dataset: str, addresses: Sequence[str], stem: str, title: str,
                    width: float, height: float) -> list[Path]:
    """Kendall tau between the rankings of `addresses` (Figs. 3 and 6): heatmap (PNG, PDF) and its CSV."""
    from zcbench.analysis import kendall_matrix

    panel = ctx.panel(dataset, addresses)
    matrix = kendall_matrix(panel, addresses)
    with figure(width, height) as fig:
        ax = fig.add_subplot()
        heatmap(ax, matrix, panel_names(panel, addresses), cmap=HEATMAP_CMAP, vmin=-1, vmax=1,
                cbar_label="Kendall $\\tau$")
        ax.set_title(title)
        footnote(fig, [panel.rows] + ([SYNTHETIC_NOTE] if panel.synthetic else []))
        paths = save_figure(fig, ctx.out, stem)
    frame = pd.DataFrame(matrix, columns=list(addresses))
    frame.insert(0, "score", list(addresses))
    frame["n"] = panel.n
    return paths + [write_csv(frame, ctx.out, stem)]
