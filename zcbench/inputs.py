"""Input batches a proxy can ask for, drawn from the per-(architecture, repeat) generators.

`gaussian`: one batch of N(0, 1) images; `ones`: one all-ones sample (Synflow); `real_batch`: `batches`
augmented training batches stacked along the batch axis, with their `labels`; `labels` without
`real_batch`: uniform random labels for the Gaussian batch. With `--synthetic-data`, `real_batch` is a
Gaussian image batch with uniform labels (recorded in the config and the provenance).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from zcbench import data as realdata
from zcbench.benchmark import DatasetInfo
from zcbench.errors import ZCBenchError
from zcbench.registry import ProxySpec


@dataclass(frozen=True)
class InputSource:
    """Where real batches come from for one run: a loaded dataset, or synthetic stand-ins."""

    real: realdata.LoadedData | None = None
    synthetic: bool = False

    @property
    def config_value(self) -> str:
        """What enters a real-data proxy's config hash: the data's fingerprint, or `synthetic`."""
        if self.synthetic:
            return "synthetic"
        return self.real.fingerprint if self.real is not None else "none"

    @property
    def provenance(self) -> str:
        if self.synthetic:
            return "synthetic: Gaussian images, uniform random labels (--synthetic-data)"
        if self.real is None:
            return "none"
        return f"real: {self.real.root} ({', '.join(self.real.files)}; {len(self.real.labels)} images)"


def source_for(spec: ProxySpec, dataset: DatasetInfo, data_root: Path | None, synthetic: bool) -> InputSource:
    """Resolve (and load, once) the real data a proxy needs from the reader the benchmark's dataset
    points to; fail with one clear line if it is missing or the dataset has no reader."""
    if "real_batch" not in spec.needs:
        return InputSource()
    if synthetic:
        return InputSource(synthetic=True)
    if dataset.real_data is None:
        raise ZCBenchError(f"no real data is known for dataset {dataset.name!r} (proxy {spec.name}); pass "
                           f"--synthetic-data to run on Gaussian images with random labels")
    return InputSource(real=realdata.load(dataset.real_data, data_root, spec.name))


def prepare(needs: tuple[str, ...], batch: int, batches: int, shape: tuple[int, ...], num_classes: int,
            generator: torch.Generator, data_generator: torch.Generator, dtype: torch.dtype,
            device: torch.device, source: InputSource) -> dict[str, torch.Tensor]:
    """The tensors named in `needs` (feature needs are served by the model protocol, not here)."""
    out: dict[str, torch.Tensor] = {}
    if "gaussian" in needs:
        out["gaussian"] = torch.randn((batch, *shape), generator=generator, dtype=dtype, device=device)
    if "ones" in needs:
        out["ones"] = torch.ones((1, *shape), dtype=dtype, device=device)
    if "real_batch" in needs:
        total = batch * batches
        if source.real is not None:
            images, labels = realdata.augmented_batch(source.real, total, data_generator, dtype, device)
        else:
            images = torch.randn((total, *shape), generator=data_generator, dtype=dtype).to(device)
            labels = torch.randint(0, num_classes, (total,), generator=data_generator).to(device)
        out["real_batch"], out["labels"] = images, labels
    elif "labels" in needs:
        out["labels"] = torch.randint(0, num_classes, (batch,), generator=data_generator).to(device)
    return out
