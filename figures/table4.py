"""Table 4: the AZ-NAS ablation: Kendall tau of every non-empty subset of the four components, with the
non-linear (NL) and linear (L) rank aggregation, beside the paper's 14 rows."""

from __future__ import annotations

import pandas as pd

from zcbench.analysis import ablation
from zcbench.figures.common import (SYNTHETIC_NOTE, Built, Context, Recipe, fmt, markdown_table, write_csv,
                                    write_markdown)
from zcbench.figures.paper import AZ_COMPONENTS, AZ_SYMBOLS
from zcbench.registry import register_figure

METHOD_NAMES = {"-": "-", "nonlinear": "NL", "linear": "L"}
# The format of a benchmark's paper values for this table (`Benchmark.paper.values["table4"]`), in the
# paper's row order: (components in E, P, T, C order, aggregation or "-") -> dataset -> tau.


def build(ctx: Context, datasets: list[str]) -> Built:
    built = Built()
    paper = ctx.paper_values("table4") or {}
    records, measured, synthetic = [], {}, False
    for dataset in datasets:
        label = ctx.labels(dataset)["az"]
        components = [c for c in AZ_COMPONENTS if c in ctx.view(dataset).entries[label].components]
        addresses = [f"{label}.{c}" for c in components]
        panel = ctx.panel(dataset, addresses)
        synthetic |= bool(panel.synthetic)
        for row in ablation(panel, addresses):
            key = (tuple(a.partition(".")[2] for a in row.members), row.method)
            p_tau = paper.get(key, {}).get(dataset)
            measured[key, dataset] = (row.tau, p_tau)
            records.append({"dataset": dataset, "components": "+".join(key[0]), "method": row.method,
                            "tau": row.tau, "rho": row.rho, "n": row.n, "archs": panel.rows, "paper_tau": p_tau})
    keys = list(dict.fromkeys(k for k, _ in measured))
    paper_rows = {k: i + 1 for i, k in enumerate(paper)}
    header = ["#", *(f"s^{AZ_SYMBOLS[c]}" for c in AZ_COMPONENTS), "RA"]
    for dataset in datasets:
        header += [f"{dataset} τ", "paper"]
    rows = []
    for key in keys:
        members, method = key
        row = [str(paper_rows.get(key, "")), *("✓" if c in members else "" for c in AZ_COMPONENTS),
               METHOD_NAMES[method]]
        for dataset in datasets:
            tau, p_tau = measured.get((key, dataset), (None, None))
            row += [fmt(tau), fmt(p_tau)]
        rows.append(row)
    archs = sorted({r["archs"] for r in records})
    notes = [f"- architectures: {'; '.join(archs)}", "- #: the paper's row number (①-⑭) where it has the row"]
    if synthetic:
        notes.append(f"- {SYNTHETIC_NOTE}")
    intro = ("# Table 4: AZ-NAS ablation (Kendall τ-b)\n\nEvery non-empty subset of the components; RA: rank "
             "aggregation, NL = Σ ln(rank/m), L = Σ rank.")
    text = "\n\n".join([intro, markdown_table(header, rows), "\n".join(notes)])
    built.paths.append(write_csv(pd.DataFrame.from_records(records), ctx.out, "table4"))
    built.paths.append(write_markdown(text, ctx.out, "table4"))
    return built


RECIPE = register_figure(Recipe("table4", "AZ-NAS component ablation", build, required=("az",)))
