"""Table 5: AZ-NAS components added one by one (s^C, then s^E, s^T, s^P) to nothing, to ZiCo and to
Synflow with the non-linear aggregation; Kendall tau and runtime beside the paper's."""

from __future__ import annotations

import pandas as pd

from zcbench.analysis import runtime_ms
from zcbench.figures.common import (SYNTHETIC_NOTE, Built, Context, Recipe, display_name, fmt, markdown_table,
                                    write_csv, write_markdown)
from zcbench.figures.paper import AZ_SYMBOLS

#: The rows: a base proxy (or none) with AZ-NAS components added one by one, in the paper's order
ADDED = ("complexity", "expressivity", "trainability", "progressivity")
ROWS = ([(None, ADDED[:k]) for k in range(1, 5)]
        + [(base, ADDED[:k]) for base in ("zico", "synflow") for k in range(0, 5)])
# The format of a benchmark's paper values for this table (`Benchmark.paper.values["table5"]`):
# (base, added) -> (dataset -> tau, runtime ms/arch or None).
from zcbench.registry import register_figure


def _row_name(base: str | None, added: tuple[str, ...]) -> str:
    parts = ([display_name(base)] if base else []) + [f"s^{AZ_SYMBOLS[c]}" for c in added]
    return " + ".join(parts)


def build(ctx: Context, datasets: list[str]) -> Built:
    built = Built()
    paper = ctx.paper_values("table5") or {}
    records, cells, synthetic = [], {}, False
    for dataset in datasets:
        labels = ctx.labels(dataset)
        for base, added in ROWS:
            paper_taus, paper_ms = paper.get((base, added), ({}, None))
            p_tau = paper_taus.get(dataset)
            tau = rho = ms = None
            n = 0
            if base is None or base in labels:
                addresses = ([labels[base]] if base else []) + [f"{labels['az']}.{c}" for c in added]
                panel = ctx.panel(dataset, addresses)
                tau, rho = panel.correlation(addresses, "nonlinear") if len(addresses) > 1 else \
                    panel.correlation(addresses[0])
                entries = dict.fromkeys(ctx.view(dataset).entries[a.partition(".")[0]].label for a in addresses)
                ms = sum(runtime_ms(ctx.view(dataset).entries[e]) for e in entries)
                n = panel.n
                synthetic |= bool(panel.synthetic)
            cells[(base, added), dataset] = (tau, p_tau, ms, n)
            records.append({"dataset": dataset, "aggregate": _row_name(base, added), "base": base or "",
                            "added": "+".join(added), "tau": tau, "rho": rho, "n": n, "ms_per_arch": ms,
                            "paper_tau": p_tau, "paper_ms_per_arch": paper_ms})
    header = ["Aggregated proxies"]
    for dataset in datasets:
        header += [f"{dataset} τ", "paper"]
    header += [f"ms/arch ({datasets[0]})", "paper ms/arch", "n"]
    rows = []
    for key in ROWS:
        paper_ms = paper.get(key, ({}, None))[1]
        row = [_row_name(*key)]
        for dataset in datasets:
            tau, p_tau, _, _ = cells[key, dataset]
            row += [fmt(tau), fmt(p_tau)]
        ms = cells[key, datasets[0]][2]
        counts = "/".join(str(cells[key, d][3] or "–") for d in datasets)
        row += [fmt(ms, 1), fmt(paper_ms, 1), counts]
        rows.append(row)
    notes = ["- non-linear aggregation Σ ln(rank/m) over the architectures every member scored (n per dataset)",
             "- measured ms/arch: the sum over the stored entries involved (AZ-NAS computes all four components "
             "in one call, so every s^ row costs the full AZ-NAS time); the paper's on one GPU",
             "- –: the base proxy is not in the store, or the paper has no runtime"]
    if synthetic:
        notes.append(f"- {SYNTHETIC_NOTE}")
    text = "# Table 5: AZ-NAS components added to other proxies (Kendall τ-b)\n\n" + markdown_table(header, rows) + \
        "\n\n" + "\n".join(notes)
    built.paths.append(write_csv(pd.DataFrame.from_records(records), ctx.out, "table5"))
    built.paths.append(write_markdown(text, ctx.out, "table5"))
    return built


RECIPE = register_figure(Recipe("table5", "AZ-NAS components added to ZiCo and Synflow", build,
                required=("az",), wanted=("zico", "synflow")))
