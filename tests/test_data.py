"""Real training batches from the official pickle formats, and the --synthetic-data fallback."""

import pickle

import numpy as np
import pytest
import torch

from zcbench import ZCBenchError
from zcbench import get_benchmark
from zcbench.data import CIFAR10, CIFAR100, IMAGENET16_120, augmented_batch, load
from zcbench.inputs import InputSource, source_for
from zcbench.registry import get_proxy

from conftest import SHARED

REAL = SHARED / "data" / "real"
NB = get_benchmark("nb201")
READERS = {"cifar10": CIFAR10, "cifar100": CIFAR100, "ImageNet16-120": IMAGENET16_120}


@pytest.fixture(scope="module")
def real_root():
    assert (REAL / "cifar-10-batches-py" / "data_batch_1").exists(), f"real data samples expected at {REAL}"
    return REAL


@pytest.mark.parametrize("dataset, n, classes, res", [
    ("cifar10", 5000, 10, 32), ("cifar100", 5000, 100, 32), ("ImageNet16-120", 256, 120, 16)])
def test_samples_load_with_the_right_labels(real_root, dataset, n, classes, res):
    assert NB.dataset(dataset).real_data is READERS[dataset]  # the benchmark points to the reader
    data = load(READERS[dataset], real_root)
    assert data.images.shape == (n, 3, res, res) and data.images.dtype == np.uint8
    assert data.labels.min() == 0 and data.labels.max() == classes - 1
    assert len(np.unique(data.labels)) == classes


def test_channel_planes_are_decoded_as_rgb(real_root):
    # the pickle stores all red values, then green, then blue: plane 0 of image 0 = first 1024 bytes
    with open(real_root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    data = load(CIFAR10, real_root)
    assert np.array_equal(data.images[0, 0].reshape(-1), np.asarray(raw["data"][0][:1024], dtype=np.uint8))
    assert np.array_equal(data.images[0, 2].reshape(-1), np.asarray(raw["data"][0][2048:], dtype=np.uint8))


def test_bytes_keys_are_accepted(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    images = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": images, b"labels": [3, 7]}, f)
    data = load(CIFAR10, tmp_path)
    assert data.labels.tolist() == [3, 7] and data.images.shape == (2, 3, 32, 32)


def test_augmented_batches_are_seeded_cropped_flipped_and_normalised(real_root):
    data = load(CIFAR10, real_root)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    x1, y1 = augmented_batch(data, 64, g1, torch.float32, torch.device("cpu"))
    x2, y2 = augmented_batch(data, 64, g2, torch.float32, torch.device("cpu"))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (64, 3, 32, 32) and y1.dtype == torch.int64
    ds = CIFAR10
    # zero padding shows up as the normalised value of a black pixel in some crops
    black = torch.tensor([-m / s for m, s in zip(ds.mean, ds.std)]).view(3, 1, 1)
    assert any(torch.allclose(img[:, :, 0], black.expand(3, 32, 1)[:, :, 0]) for img in x1)
    assert -3 < float(x1.mean()) < 3
    x3, _ = augmented_batch(data, 64, torch.Generator().manual_seed(6), torch.float32, torch.device("cpu"))
    assert not torch.equal(x1, x3)


def test_missing_data_says_what_to_download(tmp_path, monkeypatch):
    monkeypatch.delenv("ZCBENCH_DATA", raising=False)
    snip = get_proxy("snip").spec
    with pytest.raises(ZCBenchError, match="cifar-10-python.tar.gz.*--data-root DIR.*--synthetic-data"):
        source_for(snip, NB.dataset("cifar10"), None, synthetic=False)
    with pytest.raises(ZCBenchError, match=f"{tmp_path}/cifar-100-python/train"):
        source_for(snip, NB.dataset("cifar100"), tmp_path, synthetic=False)
    assert source_for(snip, NB.dataset("cifar10"), None, synthetic=True) == InputSource(synthetic=True)
    assert source_for(get_proxy("az").spec, NB.dataset("cifar10"), None, synthetic=False) == InputSource()


def test_synthetic_data_is_recorded_and_shown(cli, tmp_path, fake_gt):
    store = tmp_path / "s.h5"
    code, out, err = cli("score", "--bench", "fake", "--dataset", "synthetic", "--proxy", "snip", "--store", store,
                         "--limit", "2", "--quiet")
    assert code == 2 and "no real data is known" in err
    code, out, err = cli("score", "--bench", "fake", "--dataset", "synthetic", "--proxy", "snip", "--store", store,
                         "--limit", "4", "--quiet", "--synthetic-data")
    assert code == 0, err
    assert "snip@" in out  # synthetic stand-ins never take the default entry
    code, out, err = cli("evaluate", "--store", store, "--bench", "fake", "--dataset", "synthetic", "--gt", fake_gt)
    assert code == 0 and "SYNTHETIC DATA" in out and "snip@" in out.split("SYNTHETIC DATA")[1]


def test_real_data_fingerprint_enters_the_config(cli, tmp_path, real_root):
    store = tmp_path / "s.h5"
    code, out, err = cli("score", "--bench", "nb201", "--dataset", "ImageNet16-120", "--proxy", "snip", "--store",
                         store, "--limit", "1", "--quiet", "--data-root", real_root, "--threads", "1")
    assert code == 0, err
    from zcbench.store import Store

    entry = Store(store).read("nb201", "ImageNet16-120").entries["snip"]
    assert entry.config["data"].startswith("ImageNet16-120:256:")
    assert "real:" in entry.provenance["data"] and "train_data_batch_1" in entry.provenance["data"]
