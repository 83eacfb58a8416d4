"""The course of a search: the best aggregate score against accepted candidates (and, where ground truth
exists, the test accuracy of the architecture that is best at each step), from a search's history.csv.

The best score can fall as well as rise: it is the score of the best candidate relative to the whole
history at that step (sum of ln(rank/t)), and a growing history re-ranks it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from zcbench.errors import ZCBenchError
from zcbench.figures.common import figure, save_figure

STEM = "search"


def plot_search(history_csv: str | Path, out: str | Path, title: str = "") -> list[Path]:
    """Write search.png and search.pdf into `out` from a search's history table."""
    history_csv, out = Path(history_csv), Path(out)
    try:
        frame = pd.read_csv(history_csv)
    except (OSError, pd.errors.EmptyDataError) as exc:
        raise ZCBenchError(f"cannot read search history {history_csv}: {exc}") from None
    if frame.empty:
        raise ZCBenchError(f"{history_csv} holds no candidates")
    out.mkdir(parents=True, exist_ok=True)
    with figure(6.0, 3.4) as fig:
        ax = fig.add_subplot()
        ax.plot(frame["step"], frame["best_score_so_far"], color="#1f4e79", lw=1.4, label="best aggregate score")
        ax.set_xlabel("accepted candidates")
        ax.set_ylabel("best score (sum of ln(rank/t))", color="#1f4e79")
        handles = ax.get_lines()
        if "best_accuracy_so_far" in frame and frame["best_accuracy_so_far"].notna().any():
            twin = ax.twinx()
            twin.plot(frame["step"], frame["best_accuracy_so_far"], color="#c0504d", lw=1.2, ls="--",
                      label="test accuracy of the best (%)")
            twin.set_ylabel("test accuracy of the best (%)", color="#c0504d")
            handles = handles + twin.get_lines()
        ax.legend(handles=handles, labels=[h.get_label() for h in handles], loc="lower right", fontsize=8)
        if title:
            ax.set_title(title, fontsize=10)
        return save_figure(fig, out, STEM)
