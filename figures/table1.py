"""Table 1: per proxy and dataset, Kendall tau (95% bootstrap CI), Spearman rho, top-1 accuracy of the
selected architecture (mean ± std over 5 pools of 3000) and runtime, beside the paper's numbers.

Each proxy is measured on the architectures it scored (n in the table); the top-1 pools follow the paper
only when the whole space is scored, otherwise they resample the scored architectures (said in a note).
"""

from __future__ import annotations

import pandas as pd

from zcbench.analysis import correlation_ci, ground_truth_top1, runtime_ms, top1, topk_metrics
from zcbench.figures.common import (SYNTHETIC_MARK, SYNTHETIC_NOTE, Built, Context, Recipe, display_name, fmt,
                                    fmt_pm, markdown_table, paper_order, write_csv, write_markdown)
from zcbench.figures.paper import NAMES
from zcbench.registry import register_figure

#: The format of a benchmark's paper values for this table (`Benchmark.paper.values["table1"]`): proxies:
#: proxy -> dataset -> (Kendall tau, Spearman rho, top-1 mean, top-1 std); runtime_ms: proxy -> ms/arch;
#: oracle: dataset -> (mean, std) of the best accuracy in each pool ("Ground truth").
NO_PAPER: dict = {"proxies": {}, "runtime_ms": {}, "oracle": {}}


def build(ctx: Context, datasets: list[str]) -> Built:
    built = Built()
    paper = ctx.paper_values("table1") or NO_PAPER
    records, sections = [], []
    for dataset in datasets:
        labels = ctx.labels(dataset)
        rows, pools = [], set()
        for name in paper_order(list(labels)):
            label = labels[name]
            panel = ctx.panel(dataset, [label])
            score = panel.score(label)
            ci = correlation_ci(score, panel.truth)
            sel = top1(panel, label, ctx.bench)
            entry = ctx.entry(dataset, name)
            ms = runtime_ms(entry)
            p_tau, p_rho, p_acc, p_std = paper["proxies"].get(name, {}).get(dataset, (None,) * 4)
            p_ms = paper["runtime_ms"].get(name)
            records.append({
                "dataset": dataset, "proxy": name, "entry": label, "n": panel.n, "archs": panel.rows,
                "tau": ci.tau, "tau_low": ci.tau_low, "tau_high": ci.tau_high,
                "rho": ci.rho, "rho_low": ci.rho_low, "rho_high": ci.rho_high,
                **topk_metrics(score, panel.truth),
                "top1_mean": sel.mean, "top1_std": sel.std, "pool_best_mean": sel.oracle_mean,
                "pool_best_std": sel.oracle_std, "top1_whole_space": sel.whole_space, "top1_pools": sel.pool,
                "ms_per_arch": ms, "device": " + ".join(entry.devices()),
                "synthetic_data": bool(panel.synthetic),
                "paper_tau": p_tau, "paper_rho": p_rho, "paper_top1_mean": p_acc, "paper_top1_std": p_std,
                "paper_ms_per_arch": p_ms,
            })
            pools.add(sel.pool)
            mark = SYNTHETIC_MARK if panel.synthetic else ""
            resampled = "" if sel.whole_space else "*"
            rows.append([display_name(name) + mark, f"{fmt(ci.tau)} [{fmt(ci.tau_low)}, {fmt(ci.tau_high)}]",
                         fmt(p_tau), fmt(ci.rho), fmt(p_rho), fmt_pm(sel.mean, sel.std) + resampled,
                         fmt_pm(p_acc, p_std), fmt(ms, 1), fmt(p_ms, 1), str(panel.n)])
        oracle = ground_truth_top1(ctx.view(dataset), ctx.truth(dataset), ctx.bench)
        p_oracle = paper["oracle"].get(dataset)
        records.append({"dataset": dataset, "proxy": "ground_truth", "n": len(oracle.accuracies),
                        "top1_mean": oracle.mean, "top1_std": oracle.std, "top1_whole_space": oracle.whole_space,
                        "top1_pools": oracle.pool, "paper_top1_mean": p_oracle and p_oracle[0],
                        "paper_top1_std": p_oracle and p_oracle[1]})
        rows.append(["Ground truth (pool best)", "", "", "", "", fmt_pm(oracle.mean, oracle.std),
                     fmt_pm(*(p_oracle or (None, None))), "", "", ""])
        header = ["Proxy", "τ [95% CI]", "paper τ", "ρ", "paper ρ", "top-1 acc.", "paper top-1", "ms/arch",
                  "paper ms/arch", "n"]
        notes = [f"- top-1 pools: {p}" for p in sorted(pools)] + [f"- ground truth row: {oracle.pool}"]
        if any("not the whole space" in p for p in pools):
            notes.append("- \\*: pools resampled from the scored architectures, not the paper's protocol (the whole "
                         "space); with few architectures every pool holds the same best one, hence a small std")
        devices = sorted({r["device"] for r in records if r["dataset"] == dataset and r.get("device")})
        notes.append(f"- runtime measured on {', '.join(devices) or 'unknown device'}; the paper's on one GPU")
        if any(r.get("synthetic_data") for r in records if r["dataset"] == dataset):
            notes.append(f"- {SYNTHETIC_NOTE}")
        sections.append(f"## {dataset}\n\n" + markdown_table(header, rows) + "\n\n" + "\n".join(notes))
    title = f"# Table 1: zero-cost proxies on {ctx.bench.name}"
    intro = ("Kendall τ-b and Spearman ρ against the ground truth on the architectures each proxy scored (n); "
             "95% percentile bootstrap interval over architectures (1000 resamples, seed 0). Top-1: accuracy of "
             "the proxy's best architecture in 3000-architecture pools, seeds 1..5, mean ± std (ddof 0). "
             + (f"Paper values: {ctx.bench.paper.source} Table 1, whole space." if ctx.bench.paper else
                "No paper values for this benchmark."))
    built.paths.append(write_csv(pd.DataFrame.from_records(records), ctx.out, "table1"))
    built.paths.append(write_markdown(f"{title}\n\n{intro}\n\n" + "\n\n".join(sections), ctx.out, "table1"))
    return built


RECIPE = register_figure(Recipe("table1", "tau, rho, top-1 and runtime per proxy and dataset", build,
                                wanted=tuple(NAMES)))
