"""The score store: one HDF5 file per study, crash-safe through an append-only journal.

Layout (group per `/<benchmark>/<dataset>/`):
  arch/key    canonical architecture strings (the row labels; rows only ever get appended)
  arch/index  the benchmark's official index where known (-1 otherwise)
  arch/fact/<name>  float64 [n_arch]: a fact the ground-truth file states per architecture (NDS: params,
              flops), NaN where unknown; attrs = where it comes from
  gt/<target> float32 [n_arch], attrs = the ground-truth contract
  proxy/<label>/<component>, time_ms, peak_mem_mb  float64 [n_arch, n_repeat]
  proxy/<label>/status  int8 (0 pending, 1 ok, 2 failed), proxy/<label>/error  str
  proxy/<label>/run     int32 [n_arch, n_repeat]: which run wrote the cell (index into runs; -1 none)
  proxy/<label>/runs    str [n_runs]: one JSON provenance record per scoring run (docs/store-format.md)
  proxy/<label> attrs: spec, config, config_hash (JSON)

The HDF5 file is never modified in place. Scores go to `<store>.journal` (one JSON line per result,
flushed and fsync'd); folding writes a new file and atomically renames it over the old one, then removes
the journal. Folding is idempotent, so a kill at any moment loses at most the cells in flight. Readers
see the journal too (it is applied to an in-memory copy). One writer at a time: `<store>.lock`.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import filelock
import h5py
import numpy as np

from zcbench.errors import ZCBenchError

FORMAT = "zcbench-store"
FORMAT_VERSION = 2  # 2: per-run provenance (`run`, `runs`); format 1 kept one `provenance` attribute per entry
PENDING, OK, FAILED = 0, 1, 2
STATUS_NAMES = {PENDING: "pending", OK: "ok", FAILED: "failed"}
META_ARRAYS = ("status", "error", "time_ms", "peak_mem_mb", "run")
RUN, RUNS = "run", "runs"
FACT = "fact"
NO_RUN = -1
_STR = h5py.string_dtype()


# ---------------------------------------------------------------------------------------------------
# In-file operations (shared by folding, ground-truth import and readers' in-memory overlay)
# ---------------------------------------------------------------------------------------------------
def _group(h5: h5py.File, bench: str, dataset: str, create: bool) -> h5py.Group | None:
    name = f"{bench}/{dataset}"
    if name in h5:
        return h5[name]
    if not create:
        return None
    group = h5.create_group(name)
    arch = group.create_group("arch")
    arch.create_dataset("key", shape=(0,), maxshape=(None,), dtype=_STR, chunks=(4096,))
    arch.create_dataset("index", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(4096,), fillvalue=-1)
    group.create_group("gt")
    group.create_group("proxy")
    return group


def _row_arrays(group: h5py.Group) -> Iterator[h5py.Dataset]:
    """Every dataset in the group whose first axis is the architecture axis."""
    yield group["arch/key"]
    yield group["arch/index"]
    if FACT in group["arch"]:
        yield from group["arch"][FACT].values()
    for ds in group["gt"].values():
        yield ds
    for entry in group["proxy"].values():
        yield from (ds for name, ds in entry.items() if name != RUNS)


def _arch_rows(group: h5py.Group, archs: list[str], index: Mapping[str, int] | None = None) -> np.ndarray:
    """Row of each architecture, appending unknown ones (every row-array grows with its fill value)."""
    keys = group["arch/key"]
    existing = {k: i for i, k in enumerate(keys.asstr()[...])}
    new = [a for a in dict.fromkeys(archs) if a not in existing]
    if new:
        start = len(existing)
        for ds in _row_arrays(group):
            ds.resize(start + len(new), axis=0)
        keys[start:] = np.array(new, dtype=object)
        for offset, a in enumerate(new):
            existing[a] = start + offset
    if index:
        idx = group["arch/index"]
        current = idx[...]
        for a, i in index.items():
            current[existing[a]] = i
        idx[...] = current
    return np.array([existing[a] for a in archs], dtype=np.int64)


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """The fields in which two configs differ, as `field: old -> new`."""
    keys = sorted(set(old) | set(new))
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k))


def _ensure_entry(group: h5py.Group, label: str, attrs: Mapping[str, Any], components: list[str],
                  n_repeat: int) -> h5py.Group:
    proxies = group["proxy"]
    n_arch = group["arch/key"].shape[0]
    if label in proxies:
        entry = proxies[label]
        if entry.attrs["config_hash"] != attrs["config_hash"]:
            diff = config_diff(json.loads(entry.attrs["config"]), json.loads(attrs["config"]))
            raise ZCBenchError(f"entry {label} of {group.name} holds another config ({diff})")
        if RUN not in entry:
            _upgrade_format1_entry(entry, label)
    else:
        entry = proxies.create_group(label)
        for comp in [*components, "time_ms", "peak_mem_mb"]:
            entry.create_dataset(comp, shape=(n_arch, 0), maxshape=(None, None), dtype=np.float64,
                                 chunks=(4096, 1), fillvalue=np.nan)
        entry.create_dataset("status", shape=(n_arch, 0), maxshape=(None, None), dtype=np.int8,
                             chunks=(4096, 1), fillvalue=PENDING)
        entry.create_dataset("error", shape=(n_arch, 0), maxshape=(None, None), dtype=_STR, chunks=(4096, 1))
        entry.create_dataset(RUN, shape=(n_arch, 0), maxshape=(None, None), dtype=np.int32, chunks=(4096, 1),
                             fillvalue=NO_RUN)
        entry.create_dataset(RUNS, shape=(0,), maxshape=(None,), dtype=_STR, chunks=(64,))
    for key, value in attrs.items():
        entry.attrs[key] = value
    if entry["status"].shape[1] < n_repeat:
        for name, ds in entry.items():
            if name != RUNS:
                ds.resize(n_repeat, axis=1)
    return entry


def _format1_runs(label: str, provenance: Mapping[str, Any], status: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """A format-1 entry's one `provenance` attribute as a single run that wrote every scored cell.

    Format 1 overwrote that attribute on every run, so it describes the entry's last run only; the record
    says so, and its id is derived from its content, so that merging the same store twice does not
    duplicate it.
    """
    record = dict(provenance)
    record["id"] = "format1-" + hashlib.sha256(json.dumps([label, record], sort_keys=True).encode()).hexdigest()[:16]
    record["note"] = ("written by zcbench store format 1, which kept only the last run's provenance: "
                      "the cells of earlier runs are attributed to it")
    run = np.where(status == PENDING, NO_RUN, 0).astype(np.int32)
    return [record], run


def _upgrade_format1_entry(entry: h5py.Group, label: str) -> None:
    provenance = json.loads(entry.attrs.get("provenance", "{}"))
    records, run = _format1_runs(label, provenance, entry["status"][...])
    entry.create_dataset(RUN, data=run, maxshape=(None, None), chunks=(4096, 1), fillvalue=NO_RUN)
    entry.create_dataset(RUNS, shape=(0,), maxshape=(None,), dtype=_STR, chunks=(64,))
    for record in records:
        _upsert_run(entry, record)
    if "provenance" in entry.attrs:
        del entry.attrs["provenance"]


def _run_ids(entry: h5py.Group) -> list[str]:
    return [json.loads(text)["id"] for text in entry[RUNS].asstr()[...]]


def _upsert_run(entry: h5py.Group, record: Mapping[str, Any]) -> int:
    """Store a run's record (replacing an earlier version with the same id); returns its index."""
    runs = entry[RUNS]
    ids = _run_ids(entry)
    text = json.dumps(record, sort_keys=True, allow_nan=True)
    if record["id"] in ids:
        index = ids.index(record["id"])
    else:
        index = len(ids)
        runs.resize(index + 1, axis=0)
    runs[index] = text
    return index


def _apply_records(h5: h5py.File, records: list[dict[str, Any]]) -> None:
    """Apply journal records (idempotent: applying twice gives the same file content)."""
    attrs_of: dict[tuple[str, str, str], dict[str, Any]] = {}
    by_entry: dict[tuple[str, str, str], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for rec in records:
        key = (rec.get("bench"), rec.get("dataset"), rec.get("label"))
        if rec.get("kind") == "entry":
            attrs_of[key] = rec
        if rec.get("kind") in ("entry", "run", "cell"):
            runs, cells = by_entry.setdefault(key, ([], []))
            {"run": runs, "cell": cells}.get(rec["kind"], []).append(rec)
    for (bench, dataset, label), (run_recs, recs) in by_entry.items():
        header = attrs_of.get((bench, dataset, label))
        if header is None:  # cells without their entry header cannot be placed
            continue
        group = _group(h5, bench, dataset, create=True)
        archs = [r["arch"] for r in recs]
        index = {r["arch"]: r["index"] for r in recs if r.get("index") is not None and r["index"] >= 0}
        rows = _arch_rows(group, archs, index) if recs else np.zeros(0, dtype=np.int64)
        n_repeat = max([header.get("n_repeat", 1), *[r["repeat"] + 1 for r in recs]])
        entry = _ensure_entry(group, label, header["attrs"], header["components"], n_repeat)
        run_index = {r["record"]["id"]: _upsert_run(entry, r["record"]) for r in run_recs}
        if not recs:
            continue
        arrays = _load_arrays(entry)
        for row, rec in zip(rows, recs):
            rep = rec["repeat"]
            arrays["status"][row, rep] = OK if rec["status"] == "ok" else FAILED
            arrays["error"][row, rep] = rec.get("error") or ""
            arrays["time_ms"][row, rep] = rec["time_ms"]
            arrays["peak_mem_mb"][row, rep] = rec["peak_mem_mb"]
            arrays[RUN][row, rep] = run_index.get(rec.get("run"), NO_RUN)
            for comp in header["components"]:
                arrays[comp][row, rep] = rec["values"].get(comp, math.nan) if rec["status"] == "ok" else math.nan
        _save_arrays(entry, arrays)


def _load_arrays(entry: h5py.Group) -> dict[str, np.ndarray]:
    """An entry's per-cell arrays in memory (its run records stay in the file)."""
    return {name: (ds.asstr()[...] if name == "error" else ds[...]) for name, ds in entry.items() if name != RUNS}


def _save_arrays(entry: h5py.Group, arrays: Mapping[str, np.ndarray]) -> None:
    for name, values in arrays.items():
        entry[name][...] = values


def merge_view(h5: h5py.File, view: "DatasetView") -> int:
    """Add a store's group to `h5`: new architectures, ground truth and entries; cells already scored ok in
    `h5` are kept (so merging is idempotent). Refuses an entry with another config or a ground truth with
    another contract. Returns the number of cells copied."""
    group = _group(h5, view.bench, view.dataset, create=True)
    index = {a: int(i) for a, i in zip(view.archs, view.index) if i >= 0}
    rows = _arch_rows(group, view.archs, index)
    n_arch = group["arch/key"].shape[0]
    if view.facts:
        _write_facts(group, rows, view.facts, view.fact_sources)
    for target, (values, contract) in view.gt.items():
        if target in group["gt"]:
            ds = group["gt"][target]
            mine = {k: _plain(v) for k, v in ds.attrs.items()}
            if mine != contract:
                raise ZCBenchError(f"ground truth {target} of {group.name} has another contract: "
                                   f"{config_diff(mine, contract)}")
            current = ds[...]
        else:
            current = np.full(n_arch, np.nan, dtype=np.float32)
            ds = group["gt"].create_dataset(target, data=current, maxshape=(None,), chunks=(4096,),
                                            fillvalue=np.nan)
            for key, value in contract.items():
                ds.attrs[key] = value
        fill = np.isnan(current[rows]) & ~np.isnan(values)
        current[rows[fill]] = values[fill]
        ds[...] = current
    copied = 0
    for label, entry in view.entries.items():
        attrs = {"spec": json.dumps(entry.spec), "config": json.dumps(entry.config, sort_keys=True),
                 "config_hash": entry.config_hash}
        target = _ensure_entry(group, label, attrs, entry.components, entry.status.shape[1])
        # every input's run records are kept (by id, so merging twice adds none); cells point to them anew
        run_map = np.array([_upsert_run(target, record) for record in entry.runs] + [NO_RUN], dtype=np.int32)
        arrays = _load_arrays(target)
        reps = entry.status.shape[1]
        take = (entry.status == OK) & (arrays["status"][rows, :reps] != OK)
        src_rows, src_reps = np.nonzero(take)
        for name in arrays:
            source = entry.arrays[name][src_rows, src_reps]
            arrays[name][rows[src_rows], src_reps] = run_map[source] if name == RUN else source
        _save_arrays(target, arrays)
        copied += len(src_rows)
    return copied


def _write_facts(group: h5py.Group, rows: np.ndarray, facts: Mapping[str, np.ndarray],
                 sources: Mapping[str, str]) -> None:
    """Fill architecture facts (NaN rows only, so that merging keeps what a store has); refuses a fact
    that disagrees with the stored value of the same architecture."""
    n_arch = group["arch/key"].shape[0]
    folder = group["arch"].require_group(FACT)
    for name, values in facts.items():
        values = np.asarray(values, dtype=np.float64)
        if name in folder:
            current = folder[name][...]
        else:
            current = np.full(n_arch, np.nan)
            folder.create_dataset(name, data=current, maxshape=(None,), chunks=(4096,), fillvalue=np.nan)
            folder[name].attrs["source"] = str(sources.get(name, ""))
        known = ~np.isnan(current[rows]) & ~np.isnan(values)
        if (current[rows][known] != values[known]).any():
            bad = rows[known][np.flatnonzero(current[rows][known] != values[known])[0]]
            raise ZCBenchError(f"{group.name}: architecture {group['arch/key'].asstr()[bad][:80]} has {name} "
                               f"{current[bad]:g} in the store and another value in the input")
        fill = np.isnan(current[rows]) & ~np.isnan(values)
        current[rows[fill]] = values[fill]
        folder[name][...] = current


def write_ground_truth(h5: h5py.File, bench: str, gt: Any) -> None:
    """Store one GroundTruth (zcbench.benchmark.GroundTruth) with its contract as attributes, and the
    architecture facts it carries."""
    group = _group(h5, bench, gt.dataset, create=True)
    index = None
    if gt.official_index is not None:
        index = dict(zip(gt.archs, (int(i) for i in gt.official_index)))
    rows = _arch_rows(group, list(gt.archs), index)
    if gt.facts:
        _write_facts(group, rows, gt.facts, {name: str(gt.contract.get("source", "")) for name in gt.facts})
    n_arch = group["arch/key"].shape[0]
    if gt.target in group["gt"]:
        del group["gt"][gt.target]
    values = np.full(n_arch, np.nan, dtype=np.float32)
    values[rows] = np.asarray(gt.values, dtype=np.float32)
    ds = group["gt"].create_dataset(gt.target, data=values, maxshape=(None,), chunks=(4096,), fillvalue=np.nan)
    for key, value in gt.contract.items():
        ds.attrs[key] = value


# ---------------------------------------------------------------------------------------------------
# Views for readers
# ---------------------------------------------------------------------------------------------------
@dataclass
class EntryView:
    """One proxy entry (proxy + config) of one benchmark/dataset group."""

    label: str
    spec: dict[str, Any]
    config: dict[str, Any]
    config_hash: str
    runs: list[dict[str, Any]]  # one provenance record per scoring run, oldest first
    arrays: dict[str, np.ndarray]

    @property
    def name(self) -> str:
        return self.spec["name"]

    @property
    def components(self) -> list[str]:
        return list(self.spec["components"])

    @property
    def status(self) -> np.ndarray:
        return self.arrays["status"]

    def run_summaries(self) -> list[dict[str, Any]]:
        """Each run's record with the counts of the cells whose current values it wrote: `cells` (ok or
        failed), `ok`, `failed`. A cell rescored by a later run counts for that run only."""
        run, status = self.arrays[RUN], self.status
        out = []
        for k, record in enumerate(self.runs):
            mine = run == k
            ok, failed = int((mine & (status == OK)).sum()), int((mine & (status == FAILED)).sum())
            out.append({**record, "cells": ok + failed, "ok": ok, "failed": failed})
        return out

    @property
    def provenance(self) -> dict[str, Any]:
        """The record of the most recent run that wrote cells ({} if none did)."""
        counts = np.bincount(self.arrays[RUN][self.arrays[RUN] >= 0], minlength=len(self.runs))
        with_cells = [k for k in range(len(self.runs)) if counts[k]]
        return dict(self.runs[with_cells[-1]]) if with_cells else {}

    def devices(self) -> list[str]:
        """The devices of the runs whose cells the entry holds, in run order."""
        counts = np.bincount(self.arrays[RUN][self.arrays[RUN] >= 0], minlength=len(self.runs))
        return list(dict.fromkeys(r.get("device", "?") for k, r in enumerate(self.runs) if counts[k]))

    def scored(self) -> np.ndarray:
        """Rows with at least one repeat scored ok."""
        return (self.status == OK).any(axis=1) if self.status.shape[1] else np.zeros(len(self.status), bool)

    def mean(self, name: str) -> np.ndarray:
        """Mean over the ok repeats of a component (or time_ms / peak_mem_mb); NaN where none is ok."""
        values = self.arrays[name]
        ok = self.status == OK
        count = ok.sum(axis=1)
        total = np.where(ok, values, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = total / count
        out[count == 0] = np.nan
        return out


@dataclass
class DatasetView:
    bench: str
    dataset: str
    archs: list[str]
    index: np.ndarray
    gt: dict[str, tuple[np.ndarray, dict[str, Any]]] = field(default_factory=dict)
    entries: dict[str, EntryView] = field(default_factory=dict)
    facts: dict[str, np.ndarray] = field(default_factory=dict)  # arch/fact/<name>, aligned with archs
    fact_sources: dict[str, str] = field(default_factory=dict)

    def facts_of(self, row: int) -> dict[str, float]:
        """The known facts of one architecture row (those that are not NaN)."""
        return {name: float(v[row]) for name, v in self.facts.items() if not np.isnan(v[row])}


def _read_view(group: h5py.Group, bench: str, dataset: str) -> DatasetView:
    view = DatasetView(
        bench=bench,
        dataset=dataset,
        archs=list(group["arch/key"].asstr()[...]),
        index=group["arch/index"][...],
    )
    for target, ds in group["gt"].items():
        view.gt[target] = (ds[...].astype(np.float64), {k: _plain(v) for k, v in ds.attrs.items()})
    for name, ds in group["arch"].get(FACT, {}).items():
        view.facts[name] = ds[...]
        view.fact_sources[name] = str(ds.attrs.get("source", ""))
    for label, entry in group["proxy"].items():
        arrays = _load_arrays(entry)
        if RUNS in entry:
            runs = [json.loads(text) for text in entry[RUNS].asstr()[...]]
        else:  # format 1
            runs, arrays[RUN] = _format1_runs(label, json.loads(entry.attrs.get("provenance", "{}")), arrays["status"])
        view.entries[label] = EntryView(
            label=label,
            spec=json.loads(entry.attrs["spec"]),
            config=json.loads(entry.attrs["config"]),
            config_hash=str(entry.attrs["config_hash"]),
            runs=runs,
            arrays=arrays,
        )
    return view


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------------
class Store:
    """A study's score store. Reading is always allowed; writing happens inside `writer()`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    # ---- validation --------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists() or self.journal_path.exists()

    def check(self) -> None:
        """Raise a one-line error unless the path is a zcbench store (or a journal waiting to be folded)."""
        if not self.path.exists():
            if self.journal_path.exists():
                return
            raise ZCBenchError(f"no store at {self.path}; create one with `zcbench score ... --store {self.path}`")
        if self.path.is_dir():
            raise ZCBenchError(f"{self.path} is a directory, not a zcbench store")
        try:
            with h5py.File(self.path, "r") as h5:
                fmt = h5.attrs.get("format")
                version = h5.attrs.get("format_version")
        except OSError:
            raise ZCBenchError(f"{self.path} is not an HDF5 file (corrupt or foreign); not touching it") from None
        if fmt != FORMAT:
            raise ZCBenchError(f"{self.path} is an HDF5 file but not a zcbench store; not touching it")
        if version is None or int(version) > FORMAT_VERSION:
            raise ZCBenchError(f"{self.path} was written by a newer zcbench (format {version}); upgrade zcbench")

    # ---- journal -----------------------------------------------------------------------------------
    def read_journal(self) -> list[dict[str, Any]]:
        """Journal records; a torn last line (kill during a write) is ignored."""
        if not self.journal_path.exists():
            return []
        records = []
        lines = self.journal_path.read_bytes().split(b"\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except (json.JSONDecodeError, UnicodeDecodeError):
                if i == len(lines) - 1:  # torn final write: the cell was in flight
                    continue
                raise ZCBenchError(f"journal {self.journal_path} is corrupt at line {i + 1}") from None
        return records

    # ---- reading -----------------------------------------------------------------------------------
    @contextmanager
    def open_read(self) -> Iterator[h5py.File]:
        """The store as readers should see it: the HDF5 file with any journal applied (in memory)."""
        self.check()
        records = self.read_journal()
        if not records:
            with h5py.File(self.path, "r") as h5:
                yield h5
            return
        buffer = io.BytesIO(self.path.read_bytes() if self.path.exists() else b"")
        mode = "r+" if self.path.exists() else "w"
        with h5py.File(buffer, mode) as h5:
            if mode == "w":
                _init_root(h5)
            _apply_records(h5, records)
            yield h5

    def groups(self) -> list[tuple[str, str]]:
        with self.open_read() as h5:
            return [(b, d) for b in h5 for d in h5[b] if isinstance(h5[b], h5py.Group)]

    def read(self, bench: str, dataset: str) -> DatasetView | None:
        with self.open_read() as h5:
            group = _group(h5, bench, dataset, create=False)
            return None if group is None else _read_view(group, bench, dataset)

    def summary(self) -> dict[str, Any]:
        """What the store holds, as plain JSON-able data (`zcbench info --json`): per benchmark/dataset group
        its architectures, ground-truth contracts and entries, each entry with its config, cell counts and
        `runs` (every run's provenance record with `cells`, the number of cells it wrote)."""
        with self.open_read() as h5:
            version = int(h5.attrs.get("format_version", FORMAT_VERSION))
        groups = []
        for bench, dataset in self.groups():
            view = self.read(bench, dataset)
            entries = {}
            for label, entry in sorted(view.entries.items()):
                entries[label] = {
                    "proxy": entry.name, "config_hash": entry.config_hash, "config": entry.config,
                    "components": entry.components, "repeats": int(entry.status.shape[1]),
                    "ok": int((entry.status == OK).sum()), "failed": int((entry.status == FAILED).sum()),
                    "runs": entry.run_summaries(),
                }
            gt = {target: {"values": int(np.isfinite(values).sum()), "contract": contract}
                  for target, (values, contract) in view.gt.items()}
            facts = {name: {"values": int(np.isfinite(values).sum()), "source": view.fact_sources.get(name, "")}
                     for name, values in view.facts.items()}
            groups.append({"bench": bench, "dataset": dataset, "archs": len(view.archs),
                           "indexed": int((view.index >= 0).sum()), "gt": gt, "facts": facts, "entries": entries})
        return {"store": str(self.path), "format_version": version, "pending_journal": self.journal_path.exists(),
                "groups": groups}

    # ---- writing -----------------------------------------------------------------------------------
    @contextmanager
    def writer(self) -> Iterator["StoreWriter"]:
        """Exclusive write access: refuse a second writer, fold any leftover journal, fold again at exit."""
        if self.path.exists():
            self.check()
        elif not self.path.parent.exists():
            raise ZCBenchError(f"cannot create store {self.path}: folder {self.path.parent} does not exist")
        lock = filelock.FileLock(str(self.lock_path), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise ZCBenchError(
                f"store {self.path} is being written by another process (lock {self.lock_path}); "
                f"wait for it to finish or use another --store"
            ) from None
        try:
            for stale in self.path.parent.glob(self.path.name + ".tmp-*"):
                stale.unlink()  # a fold that was killed before its rename; we hold the lock
            writer = StoreWriter(self)
            writer.fold()
            try:
                yield writer
            finally:
                writer.close()
                writer.fold()
        finally:
            lock.release()


def _init_root(h5: h5py.File) -> None:
    h5.attrs["format"] = FORMAT
    h5.attrs["format_version"] = FORMAT_VERSION


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StoreWriter:
    """Held while the lock is held: appends results to the journal and rewrites the file atomically."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._journal: io.BufferedWriter | None = None

    def _append(self, record: dict[str, Any]) -> None:
        if self._journal is None:
            self._journal = open(self.store.journal_path, "ab")
        self._journal.write(json.dumps(record, allow_nan=True).encode() + b"\n")
        self._journal.flush()
        os.fsync(self._journal.fileno())

    def begin_entry(self, bench: str, dataset: str, label: str, attrs: Mapping[str, Any],
                    components: list[str], n_repeat: int) -> None:
        self._append({"kind": "entry", "bench": bench, "dataset": dataset, "label": label,
                      "attrs": dict(attrs), "components": list(components), "n_repeat": n_repeat})

    def record_run(self, bench: str, dataset: str, label: str, record: Mapping[str, Any]) -> None:
        """Journal a run's provenance record (again, with the same id, to update it: its end, its machines)."""
        self._append({"kind": "run", "bench": bench, "dataset": dataset, "label": label, "record": dict(record)})

    def add_cell(self, bench: str, dataset: str, label: str, record: Mapping[str, Any]) -> None:
        """Journal one cell; its `run` names the id of the run record it belongs to."""
        self._append({"kind": "cell", "bench": bench, "dataset": dataset, "label": label, **record})

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    @contextmanager
    def transaction(self) -> Iterator[h5py.File]:
        """Modify a copy of the store and atomically rename it over the original on success."""
        path = self.store.path
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        try:
            if path.exists():
                shutil.copyfile(path, tmp)
                h5 = h5py.File(tmp, "r+")
            else:
                h5 = h5py.File(tmp, "w")
            _init_root(h5)  # a format-1 file's entries are upgraded as they are written; readers take both
            try:
                yield h5
            finally:
                h5.close()
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        finally:
            if tmp.exists():
                tmp.unlink()

    def fold(self) -> None:
        """Fold the journal into the HDF5 file (new file + atomic rename), then drop the journal."""
        self.close()
        records = self.store.read_journal()
        if records:
            with self.transaction() as h5:
                _apply_records(h5, records)
        elif not self.store.path.exists():
            with self.transaction():
                pass
        if self.store.journal_path.exists():
            self.store.journal_path.unlink()
            _fsync_dir(self.store.path.parent)

    def read(self, bench: str, dataset: str) -> DatasetView | None:
        """The folded file (call after `fold`, which `Store.writer` does on entry)."""
        with h5py.File(self.store.path, "r") as h5:
            group = _group(h5, bench, dataset, create=False)
            return None if group is None else _read_view(group, bench, dataset)


def merge_stores(inputs: list[str | os.PathLike[str]], out: str | os.PathLike[str]) -> dict[str, int]:
    """Combine stores into a new one (refused if it exists): the union of architectures and cells.

    Entries are matched by label and must hold the same config; the first store to have a cell scored
    ok provides it. Returns the number of cells copied from each input.
    """
    out_store = Store(out)
    if out_store.exists():
        raise ZCBenchError(f"{out} exists; merge writes a new store (choose another --out)")
    if not inputs:
        raise ZCBenchError("name at least one store to merge")
    resolved = {Path(p).resolve() for p in inputs}
    if Path(out).resolve() in resolved:
        raise ZCBenchError("--out must differ from the merged stores")
    sources = [Store(p) for p in inputs]
    for src in sources:
        src.check()
    counts: dict[str, int] = {}
    try:
        with out_store.writer() as writer, writer.transaction() as h5:
            for src in sources:
                counts[str(src.path)] = 0
                for bench, dataset in src.groups():
                    counts[str(src.path)] += merge_view(h5, src.read(bench, dataset))
    except BaseException:
        for created in (out_store.path, out_store.lock_path):  # leave nothing behind on a refused merge
            created.unlink(missing_ok=True)
        raise
    return counts
