"""`zcbench report`: one self-contained HTML page with every figure and table the store supports, the
ground-truth contracts and the provenance of every run that scored each proxy entry (code, device, CPU, threads).
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

import pandas as pd

from zcbench.errors import ZCBenchError
from zcbench.store import Store

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.8em 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; } th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.gap { color: #a33; font-family: monospace; font-size: 0.85em; white-space: pre-wrap; }
.note { color: #555; font-size: 0.85em; }
"""


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, na_rep="", float_format=lambda x: f"{x:.4g}", escape=True)


def _provenance(store: Store) -> str:
    parts = []
    for group in store.summary()["groups"]:
        parts.append(f"<h3>{html.escape(group['bench'])}/{html.escape(group['dataset'])}: "
                     f"{group['archs']} architectures</h3>")
        if group["gt"]:
            rows = [{"target": t, "values": gt["values"], **gt["contract"]} for t, gt in group["gt"].items()]
            parts.append("<p>Ground-truth contract</p>" + _table(pd.DataFrame(rows)))
        rows = []
        for label, entry in group["entries"].items():
            for number, run in enumerate(entry["runs"], 1):
                rows.append({"entry": label, "config hash": entry["config_hash"][:12], "run": number,
                             "cells": run["cells"], "failed": run["failed"], "started": run.get("started", ""),
                             "ended": run.get("ended") or "killed", "code": run.get("code_version", ""),
                             "torch": run.get("torch", run.get("torch_version", "")),
                             "device": run.get("device", ""), "cpu": run.get("cpu", ""),
                             "kernel path": run.get("cpu_capability", ""), "threads": run.get("threads", ""),
                             "workers": run.get("workers", ""), "backend": run.get("backend", ""),
                             "data": run.get("data", "")})
        if rows:
            parts.append("<p>Proxy entries and the runs that scored them (one row per run)</p>"
                         + _table(pd.DataFrame(rows)))
    return "\n".join(parts)


def write_report(store_path: str | Path, out: str | Path, *, bench: str,
                 gt_path: str | Path | None = None) -> Path:
    """Build the figures into `out/figures` and write `out/report.html` with everything embedded."""
    from zcbench.figures.recipes import build_all

    store = Store(store_path)
    store.check()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ZCBenchError(f"--out {out} is a file; give a folder")
    figures_dir = out / "figures"
    outcomes = build_all(store_path, figures_dir, bench=bench, gt_path=gt_path)
    body = [f"<h1>zcbench report: {html.escape(str(store_path))}</h1>",
            f"<p class='note'>generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}</p>",
            "<h2>Provenance</h2>", _provenance(store)]
    for outcome in outcomes:
        body.append(f"<h2>{html.escape(outcome.recipe.name)}: {html.escape(outcome.recipe.title)}</h2>")
        for path in outcome.paths:
            if path.suffix == ".png":
                data = base64.b64encode(path.read_bytes()).decode()
                body.append(f"<img alt='{html.escape(path.stem)}' src='data:image/png;base64,{data}'>")
            elif path.suffix == ".csv" and outcome.recipe.name.startswith("table"):
                body.append(_table(pd.read_csv(path)))
        for note in outcome.notes:
            body.append(f"<p class='note'>{html.escape(note)}</p>")
        for gap in outcome.gaps:
            text = f"{'not built' if gap.fatal else 'incomplete'} on {gap.dataset}: {gap.reason}"
            text += "".join(f"\n    {c}" for c in gap.commands)
            body.append(f"<p class='gap'>{html.escape(text)}</p>")
    report = out / "report.html"
    report.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>zcbench report</title>"
                      f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>")
    return report
