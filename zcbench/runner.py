"""Score architectures with registered proxies and journal every result into the store.

A run resolves its proxies' configs and inputs, skips what the store already holds, hands the remaining
cells to an executor (in process, a local process pool or Ray; `zcbench.executors`), which scores each
with `zcbench.cell`, and journals every result with the run's provenance as it arrives.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, TextIO

import numpy as np
import torch
from tqdm import tqdm

from zcbench.cell import SEED_POLICY, CellResult
from zcbench.data import data_root as resolve_data_root
from zcbench.errors import ZCBenchError
from zcbench.executors import CellJob, in_process, local_pool, ray_pool
from zcbench.inputs import InputSource, source_for
from zcbench.provenance import cpu_label, device_name, new_run, now
from zcbench.registry import Proxy, ProxySpec, get_benchmark, get_proxy
from zcbench.runtime import tune_allocator
from zcbench.store import OK, Store, StoreWriter, config_diff

# ---------------------------------------------------------------------------------------------------
# Shards and configs
# ---------------------------------------------------------------------------------------------------
def parse_shard(text: str) -> tuple[int, int]:
    """`i/k` with 0 <= i < k."""
    try:
        i, k = (int(part) for part in text.split("/"))
    except ValueError:
        raise ZCBenchError(f"--shard {text!r}: expected i/k, e.g. 0/4") from None
    if not (k >= 1 and 0 <= i < k):
        raise ZCBenchError(f"--shard {text!r}: need 0 <= i < k")
    return i, k


def in_shard(arch: str, shard: tuple[int, int]) -> bool:
    """Deterministic 1/k split by a hash of the architecture string (independent of order and selection)."""
    i, k = shard
    return int.from_bytes(hashlib.sha256(arch.encode()).digest()[:8], "little") % k == i


def resolve_options(spec: ProxySpec, overrides: Mapping[str, str] | None) -> dict[str, Any]:
    """The proxy's options with user overrides, cast to the type of each default."""
    options = dict(spec.options)
    for key, raw in (overrides or {}).items():
        if key not in options:
            known = ", ".join(sorted(options)) or "none"
            raise ZCBenchError(f"proxy {spec.name} has no option {key!r}; its options: {known}")
        default = options[key]
        try:
            if isinstance(default, bool):
                if str(raw).lower() not in {"true", "false", "1", "0"}:
                    raise ValueError(raw)
                options[key] = str(raw).lower() in {"true", "1"}
            else:
                options[key] = type(default)(raw)
        except (TypeError, ValueError):
            raise ZCBenchError(f"option {spec.name}.{key}: cannot read {raw!r} as {type(default).__name__}") from None
    return options


def entry_config(spec: ProxySpec, *, seed: int = 0, batch_size: int | None = None,
                 options: Mapping[str, Any] | None = None, data: str | None = None,
                 resolution: int | None = None) -> dict[str, Any]:
    """Everything that changes a proxy's values; its hash decides whether cached scores are reused.

    `data` (real-batch proxies only) is the fingerprint of the training data, or `synthetic`; `resolution`
    an input size other than the dataset's (absent at the dataset's own, so such configs keep their hash).
    """
    config = {
        "proxy": spec.name,
        "version": spec.version,
        "components": list(spec.components),
        "batch_size": int(batch_size or spec.batch_size),
        "batches": spec.batches,
        "init": spec.init,
        "bn": spec.bn,
        "needs": list(spec.needs),
        "dtype": spec.dtype,
        "options": dict(sorted((options if options is not None else spec.options).items())),
        "seed": int(seed),
        "seed_policy": SEED_POLICY,
    }
    if data is not None:
        config["data"] = data
    if resolution is not None:
        config["resolution"] = int(resolution)
    return config


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def entry_label(spec: ProxySpec, config: Mapping[str, Any]) -> str:
    """`name` for the proxy's default config, `name@<hash8>` for any other (so stores merge by label).

    For real-data proxies every real dataset counts as default; synthetic stand-ins never do.
    """
    data = config.get("data")
    default = entry_config(spec, data=None if data is None or data == "synthetic" else data)
    if config_hash(config) == config_hash(default):
        return spec.name
    return f"{spec.name}@{config_hash(config)[:8]}"


# ---------------------------------------------------------------------------------------------------
# A run
# ---------------------------------------------------------------------------------------------------
@dataclass
class EntryStats:
    label: str
    scored: int = 0
    cached: int = 0
    failed: int = 0
    times_ms: list[float] = field(default_factory=list)
    peaks_mb: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class RunSummary:
    store: Path
    bench: str
    dataset: str
    n_archs: int
    repeats: int
    device: str
    threads: int
    wall_s: float
    entries: list[EntryStats]
    workers: int = 1
    backend: str = "local"
    cpu: str = ""

    def render(self) -> str:
        head = (f"zcbench score: {self.bench}/{self.dataset}, {self.n_archs} architectures x {self.repeats} "
                f"repeat(s), store {self.store}")
        rows = [("proxy", "scored", "cached", "failed", "median ms", "p90 ms", "peak MB")]
        for e in self.entries:
            t = np.array(e.times_ms) if e.times_ms else None
            rows.append((
                e.label, str(e.scored), str(e.cached), str(e.failed),
                f"{np.median(t):.1f}" if t is not None else "-",
                f"{np.percentile(t, 90):.1f}" if t is not None else "-",
                f"{max(e.peaks_mb):.0f}" if e.peaks_mb else "-",
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        table = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                 for r in rows]
        lines = [head, *table,
                 f"wall {self.wall_s:.1f} s, {self.workers} worker(s) x {self.threads} thread(s), backend {self.backend}, "
                 f"device {self.device}, torch {torch.__version__}" + (f", {self.cpu}" if self.cpu else "")]
        for e in self.entries:
            for err in e.errors[:3]:
                lines.append(f"failed [{e.label}] {err}")
            if e.failed > 3:
                lines.append(f"... and {e.failed - 3} more failures of {e.label} (see `zcbench export`)")
        lines.append(f"next: zcbench evaluate --store {self.store} --bench {self.bench} --dataset {self.dataset}")
        return "\n".join(lines)


def check_resolution(bench, dataset: str, resolution: int | None) -> int | None:
    """The --resolution of a run: None at the dataset's own size (so its config is the default one)."""
    if resolution is None:
        return None
    if resolution < 1:
        raise ZCBenchError(f"--resolution must be at least 1, got {resolution}")
    return None if resolution == bench.dataset(dataset).resolution else int(resolution)


def resolve_device(name: str) -> torch.device:
    """The torch device for a --device value, or one clear error (unknown name, no CUDA)."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ZCBenchError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ZCBenchError("--device cuda requested but torch sees no CUDA device")
    if device.type not in {"cpu", "cuda"}:
        raise ZCBenchError(f"unsupported device {name!r}; use cpu or cuda")
    return device


@dataclass
class EntryPlan:
    """One proxy of a run: its resolved options, input source, config and store label."""

    proxy: Proxy
    options: dict[str, Any]
    source: InputSource
    config: dict[str, Any]
    config_hash: str
    label: str


BACKENDS = ("local", "ray")


def resolve_proxies(proxy_names: Sequence[str], batch_size: int | None,
                    options: Mapping[str, Mapping[str, str]] | None) -> list[Proxy]:
    """The proxies a run (or a search) names, each once, after the checks of its proxy arguments."""
    if not proxy_names:
        raise ZCBenchError("name at least one --proxy")
    if batch_size is not None and batch_size < 1:
        raise ZCBenchError(f"--batch-size must be at least 1, got {batch_size}")
    proxies = [get_proxy(n) for n in dict.fromkeys(proxy_names)]
    for name in (options or {}):
        if name not in {p.name for p in proxies}:
            raise ZCBenchError(f"option given for proxy {name!r}, which this run does not score")
    return proxies


def plan_entries(bench, dataset: str, proxies: Sequence[Proxy], *, seed: int, batch_size: int | None,
                 options: Mapping[str, Mapping[str, str]] | None, root: Path | None, synthetic_data: bool,
                 resolution: int | None) -> list[EntryPlan]:
    """Each proxy's resolved options, input source, config and store label for a run (or a search)."""
    plans = []
    for proxy in proxies:
        opts = resolve_options(proxy.spec, (options or {}).get(proxy.name))
        source = source_for(proxy.spec, bench.dataset(dataset), root, synthetic_data)
        data = source.config_value if "real_batch" in proxy.spec.needs else None
        config = entry_config(proxy.spec, seed=seed, batch_size=batch_size, options=opts, data=data,
                              resolution=resolution)
        plans.append(EntryPlan(proxy, opts, source, config, config_hash(config), entry_label(proxy.spec, config)))
    return plans


def run_scoring(
    store_path: str | Path,
    bench_name: str,
    dataset: str,
    proxy_names: Sequence[str],
    archs: Sequence[str] | None = None,
    *,
    seed: int = 0,
    repeats: int = 1,
    batch_size: int | None = None,
    device: str = "cpu",
    options: Mapping[str, Mapping[str, str]] | None = None,
    data_root: str | Path | None = None,
    synthetic_data: bool = False,
    shard: tuple[int, int] | None = None,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    progress: bool = True,
    progress_file: TextIO | None = None,
    resolution: int | None = None,
) -> RunSummary:
    """Score `archs` (canonical strings; default all) with each proxy, resuming from the store.

    `workers` > 1 scores in a local process pool (each worker gets threads / workers torch threads);
    `backend="ray"` dispatches to a Ray cluster at `address` (or a local instance). Either way this
    process alone writes the store. `resolution`: an input size other than the dataset's (recorded in the
    config, so such scores get their own entry).
    """
    bench = get_benchmark(bench_name)
    bench.dataset(dataset)
    if repeats < 1:
        raise ZCBenchError(f"--repeats must be at least 1, got {repeats}")
    proxies = resolve_proxies(proxy_names, batch_size, options)
    if workers < 1:
        raise ZCBenchError(f"--workers must be at least 1, got {workers}")
    resolution = check_resolution(bench, dataset, resolution)
    if backend not in BACKENDS:
        raise ZCBenchError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    dev = resolve_device(device)
    store = Store(store_path)
    # a file-defined space (and its facts) lives in the store: read it up front
    stored = store.read(bench.name, dataset) if not bench.enumerable and store.exists() else None
    archs = list(archs) if archs is not None else list(bench.space(stored))
    facts = _facts_by_arch(stored) if not bench.enumerable else {}
    if shard is not None:
        archs = [a for a in archs if in_shard(a, shard)]
    root = resolve_data_root(data_root)
    plans = plan_entries(bench, dataset, proxies, seed=seed, batch_size=batch_size, options=options, root=root,
                         synthetic_data=synthetic_data, resolution=resolution)
    threads = max(1, torch.get_num_threads() // workers)
    allocator = tune_allocator()  # this process; workers tune their own the same way
    settings = {"threads": threads, "workers": workers, "backend": backend, "address": address,
                "allocator": allocator, "seed": seed, "repeats": repeats, "batch_size": batch_size,
                "shard": f"{shard[0]}/{shard[1]}" if shard else None}
    start = time.perf_counter()
    stats = [EntryStats(plan.label) for plan in plans]
    with store.writer() as writer:
        view = writer.read(bench.name, dataset)
        done = [_scored_cells(view, plan, store, bench.name, dataset) for plan in plans]
        runs = begin_entries(writer, bench.name, dataset, plans, dev, settings, repeats)
        total = sum(1 for arch in archs for cells in done for rep in range(repeats) if (arch, rep) not in cells)

        def jobs() -> Iterator[CellJob]:
            for arch in archs:
                for i, (plan, cells) in enumerate(zip(plans, done)):
                    for rep in range(repeats):
                        if (arch, rep) in cells:
                            stats[i].cached += 1
                            continue
                        yield CellJob(i, bench.name, dataset, plan.proxy.name, arch, rep, seed, batch_size,
                                      plan.options, str(dev), str(root) if root else None, synthetic_data,
                                      facts.get(arch, {}), resolution)

        if backend == "ray":
            results = ray_pool(jobs(), address, threads)
        elif workers > 1:
            results = local_pool(jobs(), workers, threads)
        else:
            results = in_process(jobs())
        with runs, tqdm(total=total, desc=f"{bench.name}/{dataset}", unit="cell", disable=not progress,
                        file=progress_file or sys.stderr, dynamic_ncols=True, smoothing=0.1) as bar:
            for job, result in results:
                writer.add_cell(bench.name, dataset, plans[job.plan].label, runs.claim(job.plan, result))
                st = stats[job.plan]
                if result.ok:
                    st.scored += 1
                    st.times_ms.append(result.time_ms)
                    st.peaks_mb.append(result.peak_mem_mb)
                else:
                    st.failed += 1
                    st.errors.append(f"{job.arch} (repeat {job.repeat}): {result.error}")
                bar.update(1)
    return RunSummary(store=store.path, bench=bench.name, dataset=dataset, n_archs=len(archs), repeats=repeats,
                      device=str(dev), threads=threads, wall_s=time.perf_counter() - start, entries=stats,
                      workers=workers, backend=backend, cpu=cpu_label() if dev.type == "cpu" else device_name(dev))


def begin_entries(writer: StoreWriter, bench: str, dataset: str, plans: Sequence[EntryPlan], device: torch.device,
                  settings: Mapping[str, Any], repeats: int = 1) -> "RunJournal":
    """Create (or reopen) each plan's entry in the store and start the run's provenance records."""
    for plan in plans:
        attrs = {
            "spec": json.dumps(_spec_dict(plan.proxy.spec)),
            "config": json.dumps(plan.config, sort_keys=True),
            "config_hash": plan.config_hash,
        }
        writer.begin_entry(bench, dataset, plan.label, attrs, list(plan.proxy.spec.components), repeats)
    return RunJournal(writer, bench, dataset, [
        (plan.label, new_run(device, {**settings, "options": plan.options, "data": plan.source.provenance}))
        for plan in plans])


class RunJournal:
    """The provenance records of one run, one per entry, journaled beside its cells.

    An entry's record is journaled with its first cell (a run that scores nothing for an entry leaves no
    record there), again whenever a cell comes from a machine not seen before (workers may sit on other
    hosts), and once more at the end with the end time and how the run ended. A killed run keeps
    `ended: null`. Used as a context manager around the loop over results.
    """

    def __init__(self, writer: StoreWriter, bench: str, dataset: str, records: list[tuple[str, dict[str, Any]]]
                 ) -> None:
        self.writer, self.bench, self.dataset = writer, bench, dataset
        self.labels = [label for label, _ in records]
        self.records = [record for _, record in records]
        self.journaled = [False] * len(records)

    def _journal(self, plan: int) -> None:
        self.writer.record_run(self.bench, self.dataset, self.labels[plan], self.records[plan])
        self.journaled[plan] = True

    def claim(self, plan: int, result: CellResult) -> dict[str, Any]:
        """The cell as the journal keeps it, tagged with this run's id; its machine is noted in the run."""
        machines = self.records[plan]["machines"]
        new_machine = result.machine is not None and result.machine not in machines
        if new_machine:
            machines.append(result.machine)
        if new_machine or not self.journaled[plan]:
            self._journal(plan)
        return result.journal_record(self.records[plan]["id"])

    def __enter__(self) -> "RunJournal":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        status = "completed" if kind is None else ("interrupted" if issubclass(kind, KeyboardInterrupt)
                                                   else f"failed: {kind.__name__}: {exc}"[:300])
        for plan, record in enumerate(self.records):
            if self.journaled[plan]:
                record.update(ended=now(), status=status)
                self._journal(plan)


def _scored_cells(view, plan: EntryPlan, store: Store, bench: str, dataset: str) -> set[tuple[str, int]]:
    """(arch, repeat) cells the store already holds for this plan; refuses an entry with another config."""
    cells: set[tuple[str, int]] = set()
    existing = stored_entry(view, plan, store, bench, dataset)
    if existing is None:
        return cells
    ok = existing.status == OK
    for row, arch in enumerate(view.archs):
        for rep in np.flatnonzero(ok[row]):
            cells.add((arch, int(rep)))
    return cells


def stored_entry(view, plan: EntryPlan, store: Store, bench: str, dataset: str):
    """The store's entry of this plan (an EntryView) or None; refuses one written with another config."""
    if view is None or plan.label not in view.entries:
        return None
    existing = view.entries[plan.label]
    if existing.config_hash != plan.config_hash:
        raise ZCBenchError(
            f"store {store.path} holds {plan.label} for {bench}/{dataset} with another config "
            f"({config_diff(existing.config, plan.config)}); use another --store"
        )
    return existing


def _facts_by_arch(view) -> dict[str, dict[str, float]]:
    """Each stored architecture's facts (from its ground-truth file), for the models its cells build."""
    if view is None or not view.facts:
        return {}
    return {arch: view.facts_of(row) for row, arch in enumerate(view.archs)}


def _spec_dict(spec: ProxySpec) -> dict[str, Any]:
    return dataclasses.asdict(spec)
