"""One cell: the score of one (architecture, repeat) with one proxy, and everything the runner does
around a proxy's mathematics (seeding, model construction, initialisation, BN mode, dtype, inputs,
timing, peak memory, failure isolation). The runner and every executor import this module; it imports
neither of them.
"""

from __future__ import annotations

import copy as _copy
import hashlib
import math
import re
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from zcbench.benchmark import Benchmark
from zcbench.errors import ZCBenchError
from zcbench.inits import bypass_batchnorm
from zcbench.inputs import InputSource, prepare
from zcbench.provenance import machine
from zcbench.registry import KNOWN_DTYPES, Proxy, ProxyContext, get_init

OK_STATUS, FAILED_STATUS = "ok", "failed"
ERROR_CHARS = 500  # a failure message is kept to this length


SEED_POLICY = "sha256('seed|benchmark|dataset|arch|repeat') first 8 bytes, 63 bits"


def cell_seed(seed: int, bench: str, dataset: str, arch: str, repeat: int) -> int:
    """The seed of one (architecture, repeat): independent of order, sharding and workers."""
    digest = hashlib.sha256(f"{seed}|{bench}|{dataset}|{arch}|{repeat}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


@dataclass
class CellResult:
    """What scoring one cell gives: its values (one per component) or the failure, its time and peak
    memory, and the machine that computed it (host, CPU, kernel path, threads; see zcbench.provenance)."""

    arch: str
    repeat: int
    status: str  # ok | failed
    values: dict[str, float] = field(default_factory=dict)
    error: str = ""
    time_ms: float = math.nan
    peak_mem_mb: float = math.nan
    machine: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK_STATUS

    @classmethod
    def failed(cls, arch: str, repeat: int, error: str, machine: dict[str, Any] | None = None) -> "CellResult":
        return cls(arch, repeat, FAILED_STATUS, {}, error[:ERROR_CHARS], machine=machine)

    def journal_record(self, run: str) -> dict[str, Any]:
        """The cell as the store's journal keeps it, tagged with the id of the run that scored it (the
        machine goes into that run's record instead)."""
        record = asdict(self)
        del record["machine"]
        return {**record, "run": run}


class PeakMemory:
    """Peak memory of one cell: CUDA allocator peak, or the process's peak RSS (VmHWM, reset per cell)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._can_reset = Path("/proc/self/clear_refs").exists()

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self._can_reset:
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                self._can_reset = False

    def read_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        try:
            status = Path("/proc/self/status").read_text()
            return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
        except (OSError, AttributeError):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def copy_module(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy, so that a proxy cannot change the caller's model."""
    return _copy.deepcopy(model)


def data_seed(cell: int) -> int:
    """A second, independent stream for data batches and labels (kept on the CPU)."""
    return int.from_bytes(hashlib.sha256(f"{cell}|data".encode()).digest()[:8], "little") & (2**63 - 1)


def score_model(proxy: Proxy, model: torch.nn.Module, *, dataset: str, num_classes: int,
                input_shape: tuple[int, ...], seed: int, batch_size: int | None = None,
                options: Mapping[str, Any] | None = None, device: str | torch.device = "cpu",
                source: InputSource | None = None, copy: bool = True, seed_init: bool = True) -> dict[str, float]:
    """Score one model (anything implementing ZCModel) with a proxy, as the runner does.

    The runner's duties happen here: initialisation, BN mode, dtype, seeded inputs. With `copy` (the
    default) the caller's model is left untouched. `seed_init` seeds torch's global generator before
    the initialisation; the runner seeds it before building the model instead, so that constructor
    and re-initialisation draw from one stream. Real-batch proxies get synthetic stand-ins unless
    `source` holds real data. A model whose `shared_weights` is true (a slice of a supernet that all
    candidates share, AutoFormer) is not re-initialised: re-drawing its weights would undo the sharing
    its benchmark prescribes. `model.train()` is still called; such a model decides its own mode (the
    AutoFormer slice stays in eval, as the official search scores it). Raises if the proxy raises.
    """
    spec = proxy.spec
    device = torch.device(device)
    dtype = KNOWN_DTYPES[spec.dtype]
    opts = dict(options if options is not None else spec.options)
    if copy:
        model = copy_module(model)
    model.to(device)
    if seed_init:
        torch.manual_seed(seed)
    if not getattr(model, "shared_weights", False):  # a slice of a shared supernet keeps the supernet's weights
        get_init(spec.init)(model)
    if opts.get("bn", spec.bn) == "bypass":  # an option named `bn` overrides the spec
        bypass_batchnorm(model)
    model.train()
    model.to(dtype)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    data_generator = torch.Generator()
    data_generator.manual_seed(data_seed(seed))
    batch = int(batch_size or spec.batch_size)
    inputs = prepare(spec.needs, batch, spec.batches, tuple(input_shape), num_classes, generator, data_generator,
                     dtype, device, source or InputSource(synthetic=True))
    ctx = ProxyContext(model=model, inputs=inputs, generator=generator, spec=spec, options=opts, dataset=dataset,
                       num_classes=num_classes, device=device, dtype=dtype, batch_size=batch)
    with torch.enable_grad():
        raw = proxy.fn(ctx)
    missing = [c for c in spec.components if c not in raw]
    if missing:
        raise ValueError(f"proxy returned no value for {missing}")
    return {c: float(raw[c]) for c in spec.components}


def build_model(bench: Benchmark, arch: str, dataset: str, seed: int) -> torch.nn.Module:
    """A cell's model: built fresh, or for a `shared_weights` benchmark cut from the supernet of the run's
    `seed` (initialised once from it, shared by every cell of the run)."""
    if bench.shared_weights:
        return bench.build_shared(arch, dataset, seed)
    return bench.build(arch, dataset)


def score_cell(bench: Benchmark, dataset: str, proxy: Proxy, arch: str, repeat: int, *, seed: int = 0,
               batch_size: int | None = None, options: Mapping[str, Any] | None = None,
               device: str | torch.device = "cpu", peak: PeakMemory | None = None,
               source: InputSource | None = None, facts: Mapping[str, float] | None = None,
               resolution: int | None = None) -> CellResult:
    """Score one (architecture, repeat); never raises for a failing architecture or proxy.

    Timed: everything after model construction (initialisation included). `source` says where real
    batches come from; by default real-batch proxies get synthetic stand-ins. `facts`: what the
    benchmark's ground-truth file states about the architecture (`Benchmark.with_facts`). `resolution`
    overrides the dataset's input size (a CPU-sized run of an ImageNet space; the runner records it in the
    entry's config). A `shared_weights` benchmark's model is cut from the supernet of the run's `seed`, not
    of the cell's seed: the candidates of one run must share weights; the cell's seed still drives the
    inputs and the proxy's probes.
    """
    device = torch.device(device)
    peak = peak or PeakMemory(device)
    info = bench.dataset(dataset)
    s = cell_seed(seed, bench.name, dataset, arch, repeat)
    reason = bench.inapplicable(proxy.name)
    if reason is not None:  # recorded like any failure, with the benchmark's reason instead of a traceback
        return CellResult.failed(arch, repeat, f"{proxy.name} does not apply to {bench.name}: {reason}", machine(device))
    try:
        torch.manual_seed(s)  # constructor ('default') and re-initialisation draw from the cell's seed
        model = build_model(bench, arch, dataset, seed)
        if facts:
            model = bench.with_facts(model, facts)
        model = model.to(device)
        peak.reset()
        start = time.perf_counter()
        values = score_model(proxy, model, dataset=dataset, num_classes=info.num_classes,
                             input_shape=bench.input_shape(dataset, resolution), seed=s, batch_size=batch_size,
                             options=options, device=device, source=source, copy=False, seed_init=False)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed_ms = (time.perf_counter() - start) * 1000.0
    except ZCBenchError:
        raise
    except Exception as exc:  # failure isolation: record, go on
        return CellResult.failed(arch, repeat, f"{type(exc).__name__}: {exc}", machine(device))
    return CellResult(arch, repeat, OK_STATUS, values, "", elapsed_ms, peak.read_mb(), machine(device))
