"""Where cells are scored: in process, in a local process pool, or on a Ray cluster.

Every executor takes a stream of `CellJob`s and yields `(job, CellResult)` as results arrive, keeping only
a bounded number of jobs in flight (architectures are streamed, never all built at once). The caller, the
single writer, journals each result. Because each cell draws everything from its own seed, the values
do not depend on which executor or worker scored it (at equal threads per kernel).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch

from zcbench.cell import CellResult, PeakMemory, score_cell
from zcbench.inputs import source_for
from zcbench.registry import get_benchmark, get_proxy
from zcbench.runtime import tune_allocator

MAX_ATTEMPTS = 3  # a job whose worker died is retried on a fresh worker this many times in all


@dataclass(frozen=True)
class CellJob:
    """One (architecture, proxy, repeat) to score, described by names so that it can travel to a worker."""

    plan: int
    bench: str
    dataset: str
    proxy: str
    arch: str
    repeat: int
    seed: int
    batch_size: int | None
    options: dict[str, Any] = field(hash=False)
    device: str
    data_root: str | None
    synthetic: bool
    facts: dict[str, float] = field(default_factory=dict, hash=False)  # what the benchmark's file states
    resolution: int | None = None  # the input size, where the run overrides the dataset's


_PEAKS: dict[str, PeakMemory] = {}


def run_job(job: CellJob) -> CellResult:
    """Score one job in this process (resolving benchmark, proxy and data through the registries; real
    data is loaded once per process)."""
    proxy, bench = get_proxy(job.proxy), get_benchmark(job.bench)
    source = source_for(proxy.spec, bench.dataset(job.dataset), Path(job.data_root) if job.data_root else None,
                        job.synthetic)
    peak = _PEAKS.setdefault(job.device, PeakMemory(torch.device(job.device)))
    return score_cell(bench, job.dataset, proxy, job.arch, job.repeat, seed=job.seed, batch_size=job.batch_size,
                      options=job.options, device=job.device, peak=peak, source=source, facts=job.facts,
                      resolution=job.resolution)


def _init_worker(threads: int) -> None:
    tune_allocator()
    torch.set_num_threads(threads)


def _worker_died(job: CellJob, why: str) -> CellResult:
    return CellResult.failed(job.arch, job.repeat, why)


def in_process(jobs: Iterable[CellJob]) -> Iterator[tuple[CellJob, CellResult]]:
    """Score the jobs one after another in this process, at its torch threads."""
    for job in jobs:
        yield job, run_job(job)


def local_pool(jobs: Iterable[CellJob], workers: int, threads: int) -> Iterator[tuple[CellJob, CellResult]]:
    """A pool of `workers` spawned processes with `threads` torch threads each."""
    context = multiprocessing.get_context("spawn")  # fork after torch's thread pools start is unsafe
    pending = iter(jobs)
    retry: list[CellJob] = []
    attempts: dict[CellJob, int] = {}
    while True:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(threads,)) as pool:
            in_flight: dict[Future, CellJob] = {}

            def refill() -> None:
                while len(in_flight) < 2 * workers:
                    job = retry.pop() if retry else next(pending, None)
                    if job is None:
                        return
                    in_flight[pool.submit(run_job, job)] = job

            try:
                refill()
                while in_flight:
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in finished:
                        job = in_flight.pop(future)
                        yield job, future.result()
                    refill()
                return
            except BrokenProcessPool:
                for job in in_flight.values():  # a worker died: its cell (and the others in flight) go again
                    attempts[job] = attempts.get(job, 1) + 1
                    if attempts[job] > MAX_ATTEMPTS:
                        yield job, _worker_died(job, f"worker process died {MAX_ATTEMPTS} time(s) on this cell "
                                                     "(out of memory?)")
                    else:
                        retry.append(job)


def ray_pool(jobs: Iterable[CellJob], address: str | None, threads: int,
             max_in_flight: int | None = None) -> Iterator[tuple[CellJob, CellResult]]:
    """Dispatch jobs to a Ray cluster (`address`, or a local instance); Ray retries a lost worker's tasks."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    remote: Callable = ray.remote(num_cpus=threads, max_retries=MAX_ATTEMPTS)(_ray_job)
    limit = max_in_flight or 2 * max(1, int(ray.cluster_resources().get("CPU", 1) // threads))
    pending = iter(jobs)
    in_flight: dict[Any, CellJob] = {}
    while True:
        while len(in_flight) < limit:
            job = next(pending, None)
            if job is None:
                break
            in_flight[remote.remote(job, threads)] = job
        if not in_flight:
            return
        done, _ = ray.wait(list(in_flight), num_returns=1)
        for ref in done:
            job = in_flight.pop(ref)
            try:
                yield job, ray.get(ref)
            except ray.exceptions.RayError as exc:  # retries exhausted
                yield job, _worker_died(job, f"Ray task failed: {exc}")


def _ray_job(job: CellJob, threads: int) -> CellResult:
    _init_worker(threads)
    return run_job(job)
