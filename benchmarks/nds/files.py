"""The official NDS files (RECIPES.md section 5): which files exist, architecture keys, and a streaming reader.

Each file is a JSON list of entries (`*_reruns.json`: a dict {"top": [...], "mid": [...]}, read as top
then mid); the list position is an entry's official index. Entries carry per-iteration training curves,
so a file is read one entry at a time (ijson) and only `net`, `params`, `flops`, `optim` and the test
errors are kept: memory stays flat whatever the file's size.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import ijson
from tqdm import tqdm

from zcbench.errors import ZCBenchError

CELL_SPACE_NAMES = ("Amoeba", "DARTS", "ENAS", "NASNet", "PNAS")
ANYNET_SPACE_NAMES = ("ResNet", "ResNet-B", "ResNeXt-A", "ResNeXt-B", "Vanilla")

#: the stems of the official archive's files (facebookresearch/nds): the five cell spaces on CIFAR-10 and
#: ImageNet, their fixed width/depth and lr/wd variants, and the AnyNet spaces with their variants
STEMS = (
    *CELL_SPACE_NAMES, *(f"{s}_in" for s in CELL_SPACE_NAMES),
    "DARTS_fix-w-d", "ENAS_fix-w-d", "PNAS_fix-w-d", "DARTS_lr-wd", "DARTS_lr-wd_in",
    *ANYNET_SPACE_NAMES, "ResNeXt-A_in", "ResNeXt-B_in",
    *(f"{s}_{v}" for s in ("ResNet", "Vanilla") for v in ("lr-wd", "reruns", "rng1", "rng2", "rng3")),
)

#: an architecture key repeated within one file gets `@k` (k = 2, 3, ...) on its later entries, so that
#: every entry keeps its own row and ground truth (`--dedupe` averages them instead)
OCCURRENCE = re.compile(r"^(?P<net>\{.*\})(?:@(?P<k>[0-9]+))?$", re.S)
TARGETS = {"test_accuracy": "100 - test_ep_top1[-1] (final-epoch test accuracy, %)",
           "best_test_accuracy": "100 - min_test_top1 (best-epoch test accuracy, %)"}
TARGET_ALIASES = {"final": "test_accuracy", "best": "best_test_accuracy"}
REQUIRED = ("net", "params", "flops", "test_ep_top1", "min_test_top1")


@dataclass(frozen=True)
class NDSFile:
    """One official file: its stem, its design space and whether it was trained on ImageNet."""

    stem: str

    @property
    def space(self) -> str:
        return self.stem.split("_", 1)[0]

    @property
    def imagenet(self) -> bool:
        return self.stem.endswith("_in")

    @property
    def is_cell_space(self) -> bool:
        return self.space in CELL_SPACE_NAMES

    @property
    def is_reruns(self) -> bool:
        return self.stem.endswith("_reruns")

    @property
    def file_name(self) -> str:
        return f"{self.stem}.json"

    @property
    def benchmark_name(self) -> str:
        return f"nds-{self.stem.lower()}"


# ---- architecture keys ------------------------------------------------------------------------------
def net_key(net: dict[str, Any]) -> str:
    """The exact, canonical text of an entry's `net`: its JSON with sorted keys and no spaces (equal nets
    give equal keys; `json.loads` gives the net back)."""
    return json.dumps(net, sort_keys=True, separators=(",", ":"), allow_nan=False)


def split_key(text: str) -> tuple[dict[str, Any], int]:
    """(net, occurrence) of an architecture key; occurrence 1 unless the key ends in `@k`."""
    match = OCCURRENCE.match(text.strip())
    if match is None:
        raise ZCBenchError(f"not an NDS architecture key (the JSON object of an entry's net): {text[:60]!r}")
    try:
        net = json.loads(match["net"])
    except json.JSONDecodeError as exc:
        raise ZCBenchError(f"NDS architecture key is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(net, dict):
        raise ZCBenchError("an NDS architecture key is a JSON object (an entry's net)")
    occurrence = int(match["k"]) if match["k"] else 1
    if occurrence < 1 or (match["k"] and occurrence == 1):
        raise ZCBenchError(f"NDS architecture key: the occurrence suffix must be @2 or more, got @{match['k']}")
    return net, occurrence


def join_key(net: dict[str, Any], occurrence: int = 1) -> str:
    return net_key(net) + (f"@{occurrence}" if occurrence > 1 else "")


# ---- reading a file ---------------------------------------------------------------------------------
@dataclass
class Entry:
    """What zcbench keeps of one entry."""

    index: int
    net: dict[str, Any]
    params: float
    flops: float
    final_error: float
    best_error: float
    epochs: int | None


@dataclass
class FileRead:
    """The valid entries of a file, and the ones skipped (index, why) under --skip-invalid."""

    path: Path
    entries: list[Entry] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _number(entry: dict[str, Any], key: str) -> float:
    try:
        return as_float(entry[key])
    except ValueError:
        raise ValueError(f"{key} is {type(entry[key]).__name__}, not a number") from None


def _entry(index: int, raw: Any, check_net: Callable[[dict[str, Any]], None]) -> Entry:
    """One raw entry -> Entry; ValueError (or ZCBenchError from `check_net`) says what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError(f"an entry is a JSON object, this one is {type(raw).__name__}")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}")
    if not isinstance(raw["net"], dict):
        raise ValueError("net is not an object")
    check_net(raw["net"])
    curve = raw["test_ep_top1"]
    if not isinstance(curve, list) or not curve:
        raise ValueError("test_ep_top1 is not a non-empty list")
    try:
        final = as_float(curve[-1])
    except ValueError:
        raise ValueError("test_ep_top1[-1] is not a number") from None
    optim = raw.get("optim") if isinstance(raw.get("optim"), dict) else {}
    epochs = optim.get("max_ep")
    return Entry(index, raw["net"], _number(raw, "params"), _number(raw, "flops"), final,
                 _number(raw, "min_test_top1"), int(epochs) if isinstance(epochs, (int, float)) else None)


class _NonFiniteAsStrings:
    """A binary file whose bare NaN / Infinity / -Infinity (which Python's json writes, and the official
    files hold in their loss curves, but strict JSON parsers refuse) reach the parser as the strings
    "NaN", "Infinity", "-Infinity". Chunks are cut between letters never inside a word, so a token is
    never split; the schema's strings (keys, operation names) never contain these words."""

    TOKEN = re.compile(rb"-?Infinity|NaN")
    CHUNK = 1 << 20

    def __init__(self, raw, on_read: Callable[[int], Any] | None = None) -> None:
        self.raw, self.carry, self.out, self.on_read = raw, b"", b"", on_read

    def read(self, size: int = -1) -> bytes:
        while not self.out or (size < 0 and self.carry is not None):
            if self.carry is None:
                break
            data = self.raw.read(self.CHUNK)
            if self.on_read is not None:
                self.on_read(len(data))
            buf = self.carry + data
            if not data:
                cut, self.carry = len(buf), None
            else:
                cut = len(buf)
                while cut > 0 and chr(buf[cut - 1]).isalpha() or (cut > 0 and buf[cut - 1:cut] == b"-"):
                    cut -= 1
                self.carry = buf[cut:]
            self.out += self.TOKEN.sub(lambda m: b'"' + m.group(0) + b'"', buf[:cut])
        if size < 0:
            size = len(self.out)
        chunk, self.out = self.out[:size], self.out[size:]
        return chunk


def _items(path: Path, prefix: str, on_read: Callable[[int], Any] | None = None) -> Iterator[Any]:
    with open(path, "rb") as f:
        yield from ijson.items(_NonFiniteAsStrings(f, on_read), prefix, use_float=True)


def as_float(value: Any) -> float:
    """A JSON number, or one of the non-finite strings `_NonFiniteAsStrings` makes, as a float."""
    if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
        return float(value.lower().replace("infinity", "inf"))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def _raw_entries(path: Path, reruns: bool, on_read: Callable[[int], Any] | None = None) -> Iterator[Any]:
    """The file's entries one at a time, in official order (reruns: top then mid, one pass each)."""
    with open(path, "rb") as f:
        head = f.read(64).lstrip()[:1]
    if head == b"[" and not reruns:
        yield from _items(path, "item", on_read)
        return
    if head == b"{" and reruns:
        found = False
        for part in ("top", "mid"):
            for raw in _items(path, f"{part}.item", on_read):
                found = True
                yield raw
        if not found:
            raise ZCBenchError(f"{path}: not an NDS reruns file: expected a JSON object with lists `top` and `mid`")
        return
    shape = {b"[": "a JSON list", b"{": "a JSON object"}.get(head, "not JSON")
    want = "a JSON object {top: [...], mid: [...]}" if reruns else "a JSON list of entries"
    raise ZCBenchError(f"{path}: not an NDS file of this benchmark: expected {want}, found {shape}")


def read_file(path: Path, check_net: Callable[[dict[str, Any]], None], skip_invalid: bool = False,
              progress: bool | None = None) -> FileRead:
    """Every entry of an official file; stops at the first bad entry with one line naming file, entry
    index and problem, unless `skip_invalid`, which records it and goes on. A progress bar (bytes read,
    with ETA) shows on a terminal (`progress=None`) or when asked."""
    reruns = path.stem.endswith("_reruns")
    out = FileRead(path)
    index = -1
    try:
        size = path.stat().st_size * (2 if reruns else 1)
    except OSError as exc:
        raise ZCBenchError(f"cannot read {path}: {exc.strerror}") from None
    disable = None if progress is None else not progress  # None: tqdm shows it on a terminal only
    bar = tqdm(total=size, unit="B", unit_scale=True, desc=f"reading {path.name}", disable=disable,
               file=sys.stderr, dynamic_ncols=True, leave=False)
    try:
        for index, raw in enumerate(_raw_entries(path, reruns, bar.update)):
            try:
                out.entries.append(_entry(index, raw, check_net))
            except (ValueError, ZCBenchError) as exc:
                if not skip_invalid:
                    raise ZCBenchError(f"{path.name}: entry {index}: {exc}; nothing imported "
                                       "(--skip-invalid imports the other entries)") from None
                out.skipped.append((index, str(exc)))
    except ijson.JSONError as exc:
        raise ZCBenchError(f"{path.name}: not valid JSON after entry {index} ({str(exc).splitlines()[0][:120]}); "
                           "nothing imported") from None
    except OSError as exc:
        raise ZCBenchError(f"cannot read {path}: {exc.strerror}") from None
    finally:
        bar.close()
    if not out.entries:
        raise ZCBenchError(f"{path.name}: no valid entries; nothing imported")
    return out

