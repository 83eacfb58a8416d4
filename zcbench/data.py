"""Readers of real labelled training images in their official on-disk formats, in one place.

A benchmark's datasets point to one of these readers (`DatasetInfo.real_data`); the core never looks a
dataset up by name. Batches are drawn from the per-(architecture, repeat) generator and augmented as in
the benchmarks' training (RECIPES.md sections 3-4): random crop with zero padding, horizontal flip with
probability 1/2, per-dataset normalisation. The pixels of a data root are loaded once per process.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from zcbench.errors import ZCBenchError

DATA_ENV = "ZCBENCH_DATA"


@dataclass(frozen=True)
class RealDataset:
    name: str
    folder: str
    files: tuple[str, ...]          # training files, any subset of which may be present
    label_key: str
    resolution: int
    padding: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    url: str
    max_label: int | None = None    # keep labels 1..max_label, shifted to 0-based (ImageNet16-120)


#: CIFAR-10, python pickle batches (`cifar-10-batches-py/data_batch_1..5`)
CIFAR10 = RealDataset(
    "cifar10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "labels", 32, 4,
    (125.3 / 255, 123.0 / 255, 113.9 / 255), (63.0 / 255, 62.1 / 255, 66.7 / 255),
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
)
#: CIFAR-100, python pickle (`cifar-100-python/train`, fine labels)
CIFAR100 = RealDataset(
    "cifar100", "cifar-100-python", ("train",), "fine_labels", 32, 4,
    (129.3 / 255, 124.1 / 255, 112.4 / 255), (68.2 / 255, 65.4 / 255, 70.4 / 255),
    "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
)
#: ImageNet16-120: the 16x16 downsampled ImageNet pickles, classes 1..120 (`ImageNet16/train_data_batch_*`)
IMAGENET16_120 = RealDataset(
    "ImageNet16-120", "ImageNet16", tuple(f"train_data_batch_{i}" for i in range(1, 11)), "labels", 16, 2,
    (122.68 / 255, 116.66 / 255, 104.01 / 255), (63.22 / 255, 61.26 / 255, 65.09 / 255),
    "the downsampled ImageNet 16x16 (Imagenet16_train.zip, https://image-net.org/download-images)",
    max_label=120,
)


@dataclass(frozen=True)
class LoadedData:
    """Training pixels (N, 3, R, R) uint8 and 0-based labels, with a fingerprint for the config hash."""

    dataset: RealDataset
    images: np.ndarray
    labels: np.ndarray
    files: tuple[str, ...]
    root: str

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.labels.astype(np.int64).tobytes())
        digest.update(self.images[:: max(1, len(self.images) // 64)].tobytes())
        return f"{self.dataset.name}:{len(self.labels)}:{digest.hexdigest()[:16]}"


def data_root(explicit: str | os.PathLike[str] | None) -> Path | None:
    """--data-root, else $ZCBENCH_DATA, else None."""
    value = explicit if explicit is not None else os.environ.get(DATA_ENV)
    return Path(value) if value else None


def _missing(ds: RealDataset, root: Path | None, proxy: str) -> ZCBenchError:
    where = f"{root}/{ds.folder}" if root else f"DIR/{ds.folder}"
    hint = "" if root else f" and pass --data-root DIR (or set {DATA_ENV}=DIR)"
    return ZCBenchError(
        f"proxy {proxy} needs real {ds.name} training batches: get {ds.url} and unpack it so that "
        f"{where}/{ds.files[0]} exists{hint}; or pass --synthetic-data to use Gaussian images with random labels"
    )


def _read_pickle(path: Path) -> dict:
    with open(path, "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}


@lru_cache(maxsize=4)
def _load(ds: RealDataset, root: str) -> LoadedData:
    folder = Path(root) / ds.folder
    present = [f for f in ds.files if (folder / f).is_file()]
    if not present:
        raise FileNotFoundError(folder)
    images, labels = [], []
    for name in present:
        try:
            raw = _read_pickle(folder / name)
            data = np.asarray(raw["data"], dtype=np.uint8)
            lab = np.asarray(raw[ds.label_key], dtype=np.int64)
        except (OSError, pickle.UnpicklingError, KeyError, EOFError, ValueError) as exc:
            raise ZCBenchError(f"cannot read {folder / name} as a {ds.name} batch: {exc}") from None
        images.append(data.reshape(-1, 3, ds.resolution, ds.resolution))
        labels.append(lab)
    x, y = np.concatenate(images), np.concatenate(labels)
    if ds.max_label is not None:  # downsampled-ImageNet labels are 1-based over 1000 classes
        keep = (y >= 1) & (y <= ds.max_label)
        x, y = x[keep], y[keep] - 1
    return LoadedData(ds, np.ascontiguousarray(x), y, tuple(present), str(folder))


def load(ds: RealDataset, root: Path | None, proxy: str = "this proxy") -> LoadedData:
    """The training pixels of `ds` under `root`, or one clear error saying what to download."""
    if root is None:
        raise _missing(ds, None, proxy)
    try:
        return _load(ds, str(Path(root).resolve()))
    except FileNotFoundError:
        raise _missing(ds, root, proxy) from None


def augmented_batch(data: LoadedData, batch: int, generator: torch.Generator, dtype: torch.dtype,
                    device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch: random images, random crop with padding, random flip, normalisation."""
    ds = data.dataset
    n = len(data.labels)
    index = torch.randint(0, n, (batch,), generator=generator).numpy()
    pixels = torch.from_numpy(data.images[index]).to(torch.float32) / 255.0
    pad = ds.padding
    padded = torch.nn.functional.pad(pixels, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (batch, 2), generator=generator)
    flips = torch.rand(batch, generator=generator) < 0.5
    r = ds.resolution
    out = torch.empty_like(pixels)
    for i in range(batch):
        dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
        crop = padded[i, :, dy:dy + r, dx:dx + r]
        out[i] = crop.flip(-1) if flips[i] else crop
    mean = torch.tensor(ds.mean).view(1, 3, 1, 1)
    std = torch.tensor(ds.std).view(1, 3, 1, 1)
    images = ((out - mean) / std).to(device=device, dtype=dtype)
    labels = torch.from_numpy(data.labels[index]).to(device)
    return images, labels
