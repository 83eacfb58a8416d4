"""kill -9 in the middle of a scoring run, then resume: every cell is scored exactly once."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

from zcbench.runner import run_scoring
from zcbench.store import OK, Store

REPEATS = 10  # 40 fake architectures x 10 repeats = 400 cells


def test_kill_9_then_resume_scores_every_cell_exactly_once(tmp_path):
    path = tmp_path / "s.h5"
    store = Store(path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "zcbench.cli", "score", "--bench", "fake", "--dataset", "synthetic", "--proxy", "az",
         "--repeats", str(REPEATS), "--store", str(path), "--quiet", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if store.journal_path.exists() and store.journal_path.read_bytes().count(b'"kind": "cell"') >= 60:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    survived = store.read("fake", "synthetic").entries["az"]
    kept = int((survived.status == OK).sum())
    assert 60 <= kept < 400
    assert store.journal_path.exists()  # not folded: the process died
    (killed,) = survived.run_summaries()
    assert killed["ended"] is None and killed["cells"] == kept  # the record says the run did not finish

    summary = run_scoring(path, "fake", "synthetic", ["az"], None, repeats=REPEATS, progress=False)
    stats = summary.entries[0]
    assert (stats.cached, stats.scored, stats.failed) == (kept, 400 - kept, 0)

    final = store.read("fake", "synthetic").entries["az"]
    assert final.status.shape == (40, REPEATS) and (final.status == OK).all()
    assert [(r["cells"], r["status"]) for r in final.run_summaries()] == [(kept, "running"), (400 - kept, "completed")]
    assert not store.journal_path.exists()
    assert not list(tmp_path.glob("*.tmp-*"))

    # the interrupted-and-resumed store equals an uninterrupted run
    run_scoring(tmp_path / "ref.h5", "fake", "synthetic", ["az"], None, repeats=REPEATS, progress=False)
    ref_view = Store(tmp_path / "ref.h5").read("fake", "synthetic")
    view = store.read("fake", "synthetic")
    order = [view.archs.index(a) for a in ref_view.archs]
    for comp in final.components:
        assert np.array_equal(view.entries["az"].arrays[comp][order], ref_view.entries["az"].arrays[comp],
                              equal_nan=True)
