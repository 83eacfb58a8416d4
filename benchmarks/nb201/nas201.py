"""NB-201 ground truth from the ORIGINAL NAS-Bench-201 release files, read through `nas_201_api`.

Files: `NAS-Bench-201-v1_0-e61699.pth` and `NAS-Bench-201-v1_1-096897.pth`. Each architecture holds two
hyper-parameter sets: `less` (12 epochs, the API's hp='12') and `full` (200 epochs, hp='200'). The two
releases differ in the 12-epoch part (v1_0 has it for `cifar10-valid` only, v1_1 for every dataset) and
in how many seeds the 200-epoch runs have. Only hp='200' with the seed average is read here, whatever the
file: `get_more_info` defaults to hp='12' and a random seed, which would silently give other numbers.

Protocol (the contract of `groundtruth._contract`): dataset key `cifar10` (trained on train+valid, NOT
`cifar10-valid`) evaluated on `ori-test`; `cifar100` and `ImageNet16-120` on `x-test`.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from zcbench.benchmark import GroundTruth
from zcbench.benchmarks.nb201.groundtruth import SPLITS, file_order_truths
from zcbench.benchmarks.nb201.space import parse, to_string
from zcbench.errors import ZCBenchError

HP_200 = "200"  # nas_201_api's key for the `full` (200-epoch) results
EPOCHS = 200


def _numpy_globals() -> list[Any]:
    """The numpy reconstructors a weights-only `torch.load` needs for the release files.

    The files were pickled with numpy 1.x and may hold numpy scalars (AutoDL counted parameters with
    numpy); torch >= 2.6 loads with `weights_only=True`, which rejects numpy globals. Allowlisting these
    data-only constructors (under their numpy 1.x and 2.x names) keeps the safe loader, never
    `weights_only=False`.
    """
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    allowed: list[Any] = [np.dtype, np.ndarray]
    for fn in (multiarray.scalar, multiarray._reconstruct):
        allowed += [fn, (fn, f"numpy.core.multiarray.{fn.__name__}"), (fn, f"numpy._core.multiarray.{fn.__name__}")]
    allowed += sorted({type(np.dtype(code)) for code in np.typecodes["All"]}, key=repr)
    return allowed


def _safe_load_context() -> contextlib.AbstractContextManager[Any]:
    safe_globals = getattr(torch.serialization, "safe_globals", None)  # torch >= 2.5
    return safe_globals(_numpy_globals()) if safe_globals is not None else contextlib.nullcontext()


def _one_line(exc: BaseException) -> str:
    """The informative line of an exception (torch's weights-only message spans many lines)."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text[text.index(marker):]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else repr(exc)}"


def _open(path: Path) -> Any:
    """`NASBench201API` on `path`, quietly; every failure is one ZCBenchError line naming the path."""
    try:
        from nas_201_api import NASBench201API
    except ImportError:
        raise ZCBenchError("reading NAS-Bench-201 .pth files needs the nas_201_api package: "
                           "pip install nas-bench-201") from None

    if not path.exists():
        raise ZCBenchError(f"NAS-Bench-201 file {path} does not exist")
    if not path.is_file():
        raise ZCBenchError(f"NAS-Bench-201 path {path} is not a file (expected NAS-Bench-201-v1_*.pth)")
    try:
        with contextlib.redirect_stdout(io.StringIO()), _safe_load_context():
            return NASBench201API(str(path), verbose=False)
    except Exception as exc:  # torch/pickle errors for non-.pth files, AssertionError for a wrong schema
        if isinstance(exc, KeyError) and exc.args == ("full",):  # the API builds arch2infos[i]['full'] -> hp '200'
            raise ZCBenchError(f"NAS-Bench-201 file {path} holds no 200-epoch ('full', hp='200') results") from None
        raise ZCBenchError(
            f"cannot open NAS-Bench-201 file {path} (expected NAS-Bench-201-v1_0/v1_1 .pth): {_one_line(exc)}"
        ) from None


def _test_accuracy(api: Any, index: int, dataset: str, path: Path) -> float:
    """Seed-averaged 200-epoch test accuracy; refuses anything that is not exactly that."""
    hps = api.arch2infos_dict.get(index)
    if hps is None:
        raise ZCBenchError(f"NAS-Bench-201 file {path} has no results for architecture index {index}")
    if HP_200 not in hps:
        raise ZCBenchError(f"NAS-Bench-201 file {path} holds no 200-epoch results (index {index})")
    results = hps[HP_200]
    if dataset not in results.get_dataset_names():
        raise ZCBenchError(
            f"NAS-Bench-201 file {path} lacks the 200-epoch results for {dataset} (index {index})"
        )
    try:
        epochs = results.get_total_epoch(dataset)
    except Exception as exc:
        raise ZCBenchError(f"NAS-Bench-201 file {path}: index {index} ({dataset}): {_one_line(exc)}") from None
    if epochs != EPOCHS:
        raise ZCBenchError(
            f"NAS-Bench-201 file {path}: index {index} ({dataset}) has {epochs}-epoch results under hp='200', "
            f"expected {EPOCHS}"
        )
    try:
        # hp='200': the `full` results; is_random=False: the mean over every seed (not one random trial);
        # iepoch=None: the last epoch. For 'cifar10' it reads 'ori-test', for the others 'x-test'.
        info = api.get_more_info(index, dataset, iepoch=None, hp=HP_200, is_random=False)
    except Exception as exc:
        raise ZCBenchError(f"NAS-Bench-201 file {path}: index {index} ({dataset}): {_one_line(exc)}") from None
    if "test-accuracy" not in info:  # get_more_info silently drops a missing test split
        raise ZCBenchError(
            f"NAS-Bench-201 file {path}: index {index} ({dataset}) has no 200-epoch {SPLITS[dataset]} accuracy"
        )
    return float(info["test-accuracy"])


def read_nas201(path: Path, progress: bool = True) -> list[GroundTruth]:
    """One `test_accuracy` GroundTruth per dataset from an original NAS-Bench-201 .pth file.

    Row i is the file's architecture i (`official_index` = i). The contract is the NATS route's, so both
    official routes store the same numbers under the same description.
    """
    path = Path(path)
    api = _open(path)
    archs: list[str] = []
    for index, text in enumerate(api.meta_archs):
        try:
            archs.append(to_string(parse(text)))
        except ZCBenchError as exc:
            raise ZCBenchError(f"NAS-Bench-201 file {path}: index {index}: {exc}") from None
    if len(set(archs)) != len(archs):
        raise ZCBenchError(f"NAS-Bench-201 file {path} lists an architecture twice")
    values = {dataset: np.full(len(archs), np.nan) for dataset in SPLITS}
    for index in tqdm(range(len(archs)), desc="reading NAS-Bench-201", unit="arch", disable=not progress):
        for dataset in SPLITS:
            values[dataset][index] = _test_accuracy(api, index, dataset, path)
        api.arch2infos_dict.pop(index, None)  # the API keeps every result in memory; drop what was read
    return file_order_truths(archs, values, f"nas_201_api:{path.name}")
