"""Text rendering of a store summary (`zcbench info`): one line per group, entry and run."""

from __future__ import annotations

from typing import Any, Mapping


def run_line(number: int, run: Mapping[str, Any]) -> str:
    """One run: when, how it ended, how many cells, where and how they were computed."""
    ended = run.get("ended") or "(no end: killed)"
    where = run.get("cpu", "?")
    if run.get("cpu_capability"):
        where += f" {run['cpu_capability']}"
    if run.get("device") and run["device"] != "cpu":
        where = f"{run['device']} on {where}"
    machines = run.get("machines") or []
    hosts = sorted({m.get("host", "?") for m in machines})
    if len(hosts) > 1 or len({(m.get("cpu"), m.get("cpu_capability"), m.get("device")) for m in machines}) > 1:
        where += "; cells from " + ", ".join(
            f"{m.get('host', '?')} ({m.get('cpu', '?')} {m.get('cpu_capability', '')}, {m.get('threads', '?')} threads)"
            for m in machines)
    parts = [f"run {number}: {run.get('cells', 0)} cells ({run.get('failed', 0)} failed)",
             f"{run.get('started', '?')} to {ended}, {run.get('status', '?')}",
             f"{where}, {run.get('workers', '?')} worker(s) x {run.get('threads', '?')} thread(s), "
             f"{run.get('backend', '?')}",
             f"zcbench {run.get('code_version', '?')}, torch {run.get('torch', run.get('torch_version', '?'))}"]
    if run.get("options"):
        parts.append("options " + ", ".join(f"{k}={v}" for k, v in sorted(run["options"].items())))
    if run.get("note"):
        parts.append(run["note"])
    return "; ".join(parts)


def render_summary(summary: Mapping[str, Any]) -> str:
    lines = [f"{summary['store']} (store format {summary['format_version']})"
             + (", journal not yet folded" if summary.get("pending_journal") else "")]
    for group in summary["groups"]:
        lines.append(f"{group['bench']}/{group['dataset']}: {group['archs']} architectures")
        for target, gt in group["gt"].items():
            c = gt["contract"]
            lines.append(f"  gt {target}: {gt['values']} values, {c.get('split')}, {c.get('epochs')} epochs, "
                         f"source {c.get('source')}" + (f"; skipped {c['skipped']}" if c.get("skipped") else ""))
        for name, fact in group.get("facts", {}).items():
            lines.append(f"  fact {name}: {fact['values']} values from {fact['source']}")
        for label, entry in group["entries"].items():
            lines.append(f"  {label}: {entry['ok']} ok, {entry['failed']} failed cells; config "
                         f"{entry['config_hash'][:8]}; {len(entry['runs'])} run(s)")
            lines.extend(f"    {run_line(k, run)}" for k, run in enumerate(entry["runs"], 1))
    return "\n".join(lines)
