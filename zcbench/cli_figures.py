"""`zcbench figures` and `zcbench ensemble`: standalone click commands, attached to the `zcbench` group
in zcbench/cli.py (`cli.add_command(figures)`, `cli.add_command(ensemble)`)."""

from __future__ import annotations

import json
import math

import click

from zcbench.clikit import CONTEXT, bench_option, store_option
from zcbench.errors import ZCBenchError


@click.command(context_settings=CONTEXT)
@store_option("The HDF5 score store to read.")
@bench_option
@click.option("--dataset", default=None,
              help="Draw everything on this dataset (default: the datasets the benchmark's paper uses for each "
                   "figure and table, e.g. ImageNet16-120 for the figures and all three for the tables on nb201; "
                   "all of a benchmark's datasets where no paper reports on it).")
@click.option("--only", default=None, metavar="NAMES",
              help="Comma-separated subset of fig3, fig4, fig5, fig6, fig7, table1, table4, table5.")
@click.option("--gt", "gt_path", type=click.Path(), default=None,
              help="Ground-truth file to use instead of the store's (as for `evaluate`).")
@click.option("--archs", default=None,
              help="Restrict every correlation to these architectures (file or shipped subset, e.g. uniform1000-seed0).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (created if needed).")
def figures(store, bench, dataset, only, gt_path, archs, out):
    """Build the AZ-NAS paper's figures (PNG, PDF, CSV) and tables (CSV, Markdown) from a store.

    Builds every figure and table the store supports; for each one it cannot build (or builds without
    some of the paper's proxies) it prints the `zcbench score` command that fills the gap.

    \b
    Examples:
      zcbench figures --store study.h5 --out figs
      zcbench figures --store study.h5 --dataset cifar10 --only fig6,fig7 --out figs
    """
    from zcbench.figures.recipes import build_all

    names = [n.strip() for n in only.split(",") if n.strip()] if only else None
    outcomes = build_all(store, out, bench=bench, dataset=dataset, only=names, gt_path=gt_path, archs=archs)
    click.echo(f"output folder: {out}")
    for outcome in outcomes:
        name = outcome.recipe.name
        if outcome.built:
            click.echo(f"{name}: wrote {', '.join(p.name for p in outcome.paths)}")
        for gap in outcome.gaps:
            verb = "not built on" if gap.fatal else "incomplete on"
            click.echo(f"{name}: {verb} {gap.dataset}: {gap.reason}" + ("; fill with:" if gap.commands else ""))
            for command in gap.commands:
                click.echo(f"    {command}")
        for note in outcome.notes:
            click.echo(f"{name}: note: {note}")


def _num(x: float) -> float | None:
    return None if math.isnan(x) else x


@click.command(context_settings=CONTEXT)
@store_option()
@bench_option
@click.option("--dataset", default="cifar10", show_default=True, help="Dataset of the benchmark.")
@click.option("--proxies", required=True, metavar="SCORES",
              help="Comma-separated scores: a proxy (its own score) or PROXY.COMPONENT, e.g. az.expressivity,zico.")
@click.option("--gt", "gt_path", type=click.Path(), default=None,
              help="Ground-truth file to use instead of the store's (as for `evaluate`).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def ensemble(store, bench, dataset, proxies, gt_path, as_json):
    """Kendall tau-b and Spearman rho of the non-linear (sum of ln rank/m) and linear (sum of ranks)
    aggregation of any set of stored scores, on the architectures all of them scored.

    \b
    Example:
      zcbench ensemble --dataset ImageNet16-120 --proxies az.expressivity,az.trainability,zico
    """
    from zcbench.analysis import METHODS, load_panel

    addresses = [a.strip() for a in proxies.split(",") if a.strip()]
    if not addresses:
        raise ZCBenchError("--proxies needs at least one score, e.g. --proxies az.expressivity,zico")
    panel = load_panel(store, bench, dataset, addresses, gt_path=gt_path)
    members = [(a, *panel.correlation(a)) for a in panel.columns]
    aggregates = [(m, *panel.correlation(list(panel.columns), m)) for m in METHODS]
    if as_json:
        click.echo(json.dumps({
            "bench": panel.bench, "dataset": panel.dataset, "n": panel.n, "archs": panel.rows,
            "members": [{"score": a, "tau": _num(t), "rho": _num(r)} for a, t, r in members],
            "aggregates": [{"method": m, "tau": _num(t), "rho": _num(r)} for m, t, r in aggregates],
            "synthetic_data": panel.synthetic,
        }, indent=2))
        return
    click.echo(f"{panel.bench}/{panel.dataset}: {panel.rows}; Kendall tau-b and Spearman rho against ground truth")
    rows = [(a, t, r) for a, t, r in members] + [(f"{m} aggregate", t, r) for m, t, r in aggregates]
    width = max(len(a) for a, _, _ in rows)
    click.echo(f"{'score'.ljust(width)}      tau      rho")
    for name, tau, rho in rows:
        click.echo(f"{name.ljust(width)}  {tau:+.4f}  {rho:+.4f}")
    if panel.synthetic:
        click.echo(f"SYNTHETIC DATA (Gaussian images, random labels), not comparable with papers: "
                   f"{', '.join(panel.synthetic)}")
