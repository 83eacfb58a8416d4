"""Side-by-side speed measurement of a proxy against its plain reference restatement.

Both run on the same architectures, seeds, inputs and threads, alternating per architecture, so that
machine noise hits both alike. The reference runs on the network as written (stock torch modules, no
skipped work), so that zcbench's own bitwise-equal kernels count towards its speed-up. The report gives
both medians, their ratio and the largest relative difference between the values.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from zcbench.compare import relative_difference
from zcbench.data import data_root as resolve_data_root
from zcbench.errors import ZCBenchError
from zcbench.inputs import source_for
from zcbench.ops import plain_execution
from zcbench.provenance import cpu_label, device_name
from zcbench.registry import KNOWN_DTYPES, Proxy, ProxyContext, get_benchmark, get_proxy, get_reference
from zcbench.cell import build_model, cell_seed, score_model
from zcbench.runner import resolve_device
from zcbench.runtime import tune_allocator


@dataclass
class BenchResult:
    proxy: str
    dataset: str
    dtype: str
    threads: int
    archs: int
    fast_ms: list[float]
    reference_ms: list[float]
    max_rel_diff: float
    step_ms: list[float] = dataclasses.field(default_factory=list)
    device: str = "cpu"
    allocator: str = ""
    cpu: str = ""

    @property
    def ratio(self) -> float:
        return float(np.median(self.reference_ms) / np.median(self.fast_ms))

    def render(self) -> str:
        return "\n".join(line for line in [
            f"zcbench bench: {self.proxy} on {self.archs} architectures of {self.dataset}, {self.dtype}, "
            f"{self.threads} thread(s), {self.device}, torch {torch.__version__}",
            f"  machine   {self.cpu}" if self.cpu else "",
            f"  zcbench   median {np.median(self.fast_ms):9.1f} ms/arch",
            f"  reference median {np.median(self.reference_ms):9.1f} ms/arch (plain restatement of the recipe)",
            f"  speed-up  {self.ratio:.2f}x",
            f"  values    max relative difference {self.max_rel_diff:.2e}",
            f"  for scale: one training step (forward + backward of the same model and batch) "
            f"median {np.median(self.step_ms):.1f} ms/arch" if self.step_ms else "",
            f"  process   allocator for both: {self.allocator}" if self.allocator else "",
        ] if line)


def _timed(proxy: Proxy, bench, dataset: str, arch: str, seed: int, source,
           device: str, plain: bool = False) -> tuple[float, dict[str, float]]:
    """Milliseconds and values of one proxy call; `plain` runs it on the network as written (stock torch
    modules, no skipped work), as a reference restatement should be."""
    s = cell_seed(seed, bench.name, dataset, arch, 0)
    torch.manual_seed(s)
    model = build_model(bench, arch, dataset, seed)
    if plain:
        plain_execution(model)
    start = time.perf_counter()
    values = score_model(proxy, model, dataset=dataset, num_classes=bench.dataset(dataset).num_classes,
                         input_shape=bench.input_shape(dataset), seed=s, source=source, copy=False, seed_init=False,
                         device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) * 1000.0, values


def _training_step(ctx: ProxyContext) -> dict[str, float]:
    """One cross-entropy forward/backward on the proxy's own batch: the cost scale of a gradient proxy."""
    images = ctx.inputs.get("real_batch", ctx.inputs.get("gaussian", ctx.inputs.get("ones")))
    labels = ctx.inputs.get("labels")
    if labels is None:
        labels = torch.randint(0, ctx.num_classes, (images.shape[0],), generator=ctx.generator, device=ctx.device)
    F.cross_entropy(ctx.model.logits(images), labels).backward()
    return {c: 0.0 for c in ctx.spec.components}


def run_bench(bench_name: str, dataset: str, proxy_name: str, archs: Sequence[str], *, seed: int = 0,
              dtype: str | None = None, data_root: str | Path | None = None, synthetic_data: bool = False,
              progress: bool = True, device: str = "cpu") -> BenchResult:
    bench = get_benchmark(bench_name)
    bench.dataset(dataset)
    device = str(resolve_device(device))
    allocator = tune_allocator()
    fast, reference = get_proxy(proxy_name), get_reference(proxy_name)
    if dtype is not None:
        if dtype not in KNOWN_DTYPES:
            raise ZCBenchError(f"--dtype must be one of {', '.join(KNOWN_DTYPES)}")
        spec = dataclasses.replace(fast.spec, dtype=dtype)
        fast, reference = Proxy(spec, fast.fn), Proxy(spec, reference.fn)
    source = source_for(fast.spec, bench.dataset(dataset), resolve_data_root(data_root), synthetic_data)
    step = Proxy(fast.spec, _training_step)
    fast_ms, ref_ms, step_ms, worst = [], [], [], 0.0
    if archs:  # warm-up (lazy initialisation of kernels and vmap), not timed
        _timed(fast, bench, dataset, archs[0], seed, source, device)
        _timed(reference, bench, dataset, archs[0], seed, source, device, plain=True)
    for arch in tqdm(archs, desc=f"bench {proxy_name}", unit="arch", disable=not progress):
        t_fast, v_fast = _timed(fast, bench, dataset, arch, seed, source, device)
        t_ref, v_ref = _timed(reference, bench, dataset, arch, seed, source, device, plain=True)
        fast_ms.append(t_fast)
        ref_ms.append(t_ref)
        step_ms.append(_timed(step, bench, dataset, arch, seed, source, device)[0])
        worst = max([worst] + [relative_difference(v_fast[k], v_ref[k]) for k in v_fast])
    return BenchResult(proxy_name, dataset, fast.spec.dtype, torch.get_num_threads(), len(archs), fast_ms, ref_ms,
                       worst, step_ms, device_name(device), allocator, cpu_label())
