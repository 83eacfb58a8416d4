"""Export one benchmark/dataset group of the store as a flat table (CSV or Parquet).

One row per architecture with at least one scored proxy. Columns: `arch`, `index` (official index, empty
when unknown), `<entry>.<component>` and `<entry>.time_ms` (means over the ok repeats), `fact.<name>`
(what the ground-truth file states per architecture, e.g. NDS's params and flops), `gt.<target>`.
An unscored cell is empty (CSV) or null (Parquet); a scored NaN / inf stays `nan` / `inf`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from zcbench.errors import ZCBenchError
from zcbench.registry import get_benchmark
from zcbench.store import Store

FORMATS = ("csv", "parquet")


def export_table(store_path: str | Path, bench_name: str, dataset: str) -> pa.Table:
    bench = get_benchmark(bench_name)
    bench.dataset(dataset)
    store = Store(store_path)
    view = store.read(bench.name, dataset)
    if view is None or not view.entries:
        raise ZCBenchError(f"store {store_path} has no proxy scores for {bench.name}/{dataset}")
    any_scored = np.zeros(len(view.archs), dtype=bool)
    for entry in view.entries.values():
        any_scored |= entry.scored()
    rows = np.flatnonzero(any_scored)
    columns: dict[str, pa.Array] = {
        "arch": pa.array([view.archs[i] for i in rows], type=pa.string()),
        "index": pa.array(view.index[rows], mask=view.index[rows] < 0, type=pa.int64()),
    }
    for label, entry in sorted(view.entries.items()):
        unscored = ~entry.scored()[rows]
        for name in [*entry.components, "time_ms"]:
            columns[f"{label}.{name}"] = pa.array(entry.mean(name)[rows], mask=unscored, type=pa.float64())
    for name, values in sorted(view.facts.items()):  # what the benchmark's file states (NDS: params, flops)
        columns[f"fact.{name}"] = pa.array(values[rows], mask=np.isnan(values[rows]), type=pa.float64())
    for target, (values, _) in sorted(view.gt.items()):
        columns[f"gt.{target}"] = pa.array(values[rows], mask=np.isnan(values[rows]), type=pa.float64())
    return pa.table(columns)


def write_table(table: pa.Table, out: str | Path, fmt: str) -> None:
    out = Path(out)
    if fmt not in FORMATS:
        raise ZCBenchError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not out.parent.exists():
        raise ZCBenchError(f"cannot write {out}: folder {out.parent} does not exist")
    if fmt == "parquet":
        pq.write_table(table, out)
    else:
        pacsv.write_csv(table, out, pacsv.WriteOptions(quoting_style="needed"))
