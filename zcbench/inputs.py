"""Input batches a proxy can ask for, drawn from the per-architecture generator."""

from __future__ import annotations

import torch

from zcbench.errors import ZCBenchError


def gaussian(batch: int, shape: tuple[int, ...], generator: torch.Generator, dtype: torch.dtype,
             device: torch.device) -> torch.Tensor:
    return torch.randn((batch, *shape), generator=generator, dtype=dtype, device=device)


def ones(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """One all-ones sample (Synflow's input)."""
    return torch.ones((1, *shape), dtype=dtype, device=device)


def prepare(needs: tuple[str, ...], batch: int, shape: tuple[int, ...], num_classes: int,
            generator: torch.Generator, dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    """The tensors named in `needs` (feature needs are served by the model protocol, not here)."""
    out: dict[str, torch.Tensor] = {}
    for need in needs:
        if need == "gaussian":
            out["gaussian"] = gaussian(batch, shape, generator, dtype, device)
        elif need == "ones":
            out["ones"] = ones(shape, dtype, device)
        elif need == "labels":
            out["labels"] = torch.randint(0, num_classes, (batch,), generator=generator, device=device)
        elif need == "real_batch":
            raise ZCBenchError("real data batches are not available in this version of zcbench")
    return out
