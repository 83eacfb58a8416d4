"""Table 6 (AZ-NAS supplement): on an NDS space, Kendall tau of each proxy on every entry of the file and
the test accuracy of the entry it selects from 1000 sampled entries (mean ± std over 5 runs), beside the
paper's numbers and NASWOT's own tau. Drawn for the benchmarks whose paper reports it (the plain CIFAR-10
files of ENAS, Amoeba and NASNet; NASWOT's tau also for DARTS and PNAS).
"""

from __future__ import annotations

import pandas as pd

from zcbench.analysis import correlation_ci, ground_truth_top1, top1
from zcbench.figures.common import (SYNTHETIC_MARK, SYNTHETIC_NOTE, Built, Context, Recipe, display_name, fmt,
                                    fmt_pm, markdown_table, paper_order, write_csv, write_markdown)
from zcbench.registry import register_figure

POOL = 1000  # entries sampled per run
WANTED = ("params", "flops", "synflow", "naswot", "zico", "az")

#: The format of a benchmark's paper values for this table (`Benchmark.paper.values["table6"]`): space: its
#: name; proxies: proxy -> (Kendall tau, top-1 mean, top-1 std); naswot_paper_tau: NASWOT's own tau or None.


def build(ctx: Context, datasets: list[str]) -> Built:
    built = Built()
    paper = ctx.paper_values("table6") or {"space": ctx.bench.name, "proxies": {}, "naswot_paper_tau": None}
    records, sections = [], []
    for dataset in datasets:
        labels = ctx.labels(dataset)
        rows, pools = [], set()
        for name in paper_order(list(labels)):
            label = labels[name]
            panel = ctx.panel(dataset, [label])
            ci = correlation_ci(panel.score(label), panel.truth)
            sel = top1(panel, label, ctx.bench, pool_size=POOL)
            p_tau, p_acc, p_std = paper["proxies"].get(name, (None, None, None))
            naswot = paper.get("naswot_paper_tau") if name == "naswot" else None
            records.append({"dataset": dataset, "space": paper["space"], "proxy": name, "entry": label, "n": panel.n,
                            "archs": panel.rows, "tau": ci.tau, "tau_low": ci.tau_low, "tau_high": ci.tau_high,
                            "top1_mean": sel.mean, "top1_std": sel.std, "top1_whole_space": sel.whole_space,
                            "top1_pools": sel.pool, "synthetic_data": bool(panel.synthetic), "paper_tau": p_tau,
                            "paper_top1_mean": p_acc, "paper_top1_std": p_std, "naswot_paper_tau": naswot})
            pools.add(sel.pool)
            rows.append([display_name(name) + (SYNTHETIC_MARK if panel.synthetic else ""),
                         f"{fmt(ci.tau)} [{fmt(ci.tau_low)}, {fmt(ci.tau_high)}]", fmt(p_tau),
                         fmt_pm(sel.mean, sel.std) + ("" if sel.whole_space else "*"), fmt_pm(p_acc, p_std),
                         fmt(naswot) if name == "naswot" else "", str(panel.n)])
        oracle = ground_truth_top1(ctx.view(dataset), ctx.truth(dataset), ctx.bench, pool_size=POOL)
        rows.append(["Ground truth (pool best)", "", "", fmt_pm(oracle.mean, oracle.std), "", "", ""])
        records.append({"dataset": dataset, "space": paper["space"], "proxy": "ground_truth",
                        "top1_mean": oracle.mean, "top1_std": oracle.std, "top1_pools": oracle.pool})
        notes = [f"- top-1 pools: {p}" for p in sorted(pools)]
        if any("not the whole space" in p for p in pools):
            notes.append("- \\*: pools drawn from the scored entries, not from every entry of the file (the paper's)")
        if any(r.get("synthetic_data") for r in records if r["dataset"] == dataset):
            notes.append(f"- {SYNTHETIC_NOTE}")
        header = ["Proxy", "τ [95% CI]", "paper τ", "top-1 acc.", "paper top-1", "NASWOT paper τ", "n"]
        sections.append(f"## {ctx.bench.name} / {dataset}\n\n" + markdown_table(header, rows) + "\n\n" + "\n".join(notes))
    title = f"# Table 6: zero-cost proxies on {ctx.bench.name}"
    intro = ("Kendall τ-b against the ground-truth target on every scored entry (n), 95% bootstrap interval "
             f"(1000 resamples, seed 0); top-1: test accuracy of each proxy's choice among {POOL} entries drawn "
             "with replacement, seeds 1..5, mean ± std (ddof 0). "
             + (f"Paper values: {ctx.bench.paper.source}." if ctx.bench.paper else ""))
    built.paths.append(write_csv(pd.DataFrame.from_records(records), ctx.out, "table6"))
    built.paths.append(write_markdown(f"{title}\n\n{intro}\n\n" + "\n\n".join(sections), ctx.out, "table6"))
    return built


RECIPE = register_figure(Recipe("table6", "NDS: tau on every entry and top-1 over 5 x 1000 sampled entries",
                                build, wanted=WANTED, paper_only=True))
