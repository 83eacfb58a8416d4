"""Write the NDS test fixtures: small files in the exact official schema (RECIPES.md section 5).

    python tests/data/nds/make_fixtures.py                          # rewrites tests/data/nds/*.json
    python tests/data/nds/make_fixtures.py --large 5000 DARTS.json  # a file of official size, for timing

One file per design-space family (the five cell spaces on CIFAR-10 and ImageNet, the AnyNet spaces) and a
`*_reruns` file. Every entry carries every key of an official entry, with short curves (a NaN in one
loss curve, as the official files have). Where `official_counts.json` (counts obtained by running the
official unnas/pycls code, see its `_about`) or RECIPES gives an entry's `params`, that entry and its
count are used as they are; the other entries are small random nets whose `params` and `flops` are those
of zcbench's builder (checked against the official counts by tests/test_nds_model.py). In ResNet.json the
test error falls strictly as the parameter count rises, so that tau(params) = 1 there.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from zcbench.benchmarks.nds.cells import CELL_SPACES
from zcbench.benchmarks.nds.files import STEMS, NDSFile, net_key
from zcbench.registry import get_benchmark

HERE = Path(__file__).parent
EPOCHS, ITERS = 5, 3  # per-epoch and per-iteration curves, shortened

#: RECIPES section 5's Amoeba vector (in official_counts.json, counted by the official code): its `params`
#: -> its `flops` in the official file, which the fixture gives it
FILE_FLOPS = {4_190_314: 664_400_586}


def random_cell_net(space: str, rng: random.Random, width: int, depth: int, aux: bool = False) -> dict:
    """A random genotype of the space (two [op, input] pairs per node; concat = nodes no node reads)."""
    ops = [op for op in CELL_SPACES[space] if op != "none"]
    nodes = 4 if space == "DARTS" else 5
    genotype = {}
    for kind in ("normal", "reduce"):
        pairs, used = [], set()
        for node in range(nodes):
            for _ in range(2):
                source = rng.randrange(node + 2)
                used.add(source)
                pairs.append([rng.choice(ops), source])
        genotype[kind] = pairs
        genotype[f"{kind}_concat"] = [i for i in range(2, nodes + 2) if i not in used] or [nodes + 1]
    return {"genotype": genotype, "width": width, "depth": depth, "aux": aux, "drop_prob": 0.0}


def random_anynet(space: str, rng: random.Random, scale: int, imagenet: bool = False) -> dict:
    block = {"Vanilla": "double_plain_block", "ResNet": "res_basic_block", "ResNet-B": "res_bottleneck_block",
             "ResNeXt-A": "res_bottleneck_block", "ResNeXt-B": "res_bottleneck_block"}[space]
    bottleneck = block == "res_bottleneck_block"
    ws = [4 * scale, 4 * scale + 4 * rng.randrange(2), 8 * scale, 16 * scale]
    gs = [1, 1, 2, 4] if space.startswith("ResNeXt") else [1, 1, 1, 1]
    bot = [1.0, 1.0, 0.5, 0.25] if space.startswith("ResNeXt") else ([1.0, 0.25, 0.25, 0.25] if bottleneck else [1.0] * 4)
    return {"block_type": block, "ds": [1, 1 + rng.randrange(2), 1, 1 + rng.randrange(2)], "ws": ws,
            "ss": [2, 2, 2, 2] if imagenet else [1, 1, 2, 2], "bot_muls": bot, "num_gs": gs}


def entry(net: dict, params: int, flops: int, final_error: float, seed: int, nan_loss: bool = False) -> dict:
    """One entry with every key of an official one; the curves end at `final_error`."""
    rng = random.Random(seed)
    test = [round(final_error + (EPOCHS - 1 - e) * rng.uniform(2, 6), 2) for e in range(EPOCHS)]
    test[-1] = final_error
    train = [round(max(0.0, t - rng.uniform(0, 3)), 2) for t in test]
    loss = [round(2.3 * math.exp(-0.3 * e) + rng.uniform(0, 0.05), 4) for e in range(EPOCHS)]
    if nan_loss:
        loss[1] = float("nan")
    return {
        "net": net,
        "optim": {"base_lr": 0.1, "lr_policy": "cos", "max_ep": EPOCHS, "momentum": 0.9, "nesterov": True,
                  "wd": 5e-4, "warmup_ep": 0},
        "params": params, "flops": flops, "rng_seed": seed, "job_id": 1000 + seed,
        "prec_time": round(rng.uniform(0.01, 0.1), 4), "iter_time": round(rng.uniform(0.05, 0.2), 4),
        "exp_mem": round(rng.uniform(500, 4000), 1), "act_mem": round(rng.uniform(100, 1000), 1),
        "train_ep_loss": loss, "train_ep_top1": train, "test_ep_top1": test,
        "train_it_loss": [round(v, 4) for v in loss for _ in range(ITERS)],
        "train_it_top1": [v for v in train for _ in range(ITERS)],
        "min_test_top1": min(test),
    }


def counts(bench, net: dict) -> tuple[int, int]:
    model = bench.build(net_key(net), next(iter(bench.datasets)))
    return sum(p.numel() for p in model.parameters()), int(model.analytic_flops())


def _family(row: dict) -> str:
    """The NDS family (file stem) an entry of official_counts.json belongs to; AnyNet entries by block type."""
    if row["space"] != "AnyNet":
        return row["space"] + ("_in" if row["imagenet"] else "")
    kind = {"res_basic_block": "ResNet", "double_plain_block": "Vanilla", "res_bottleneck_block": "ResNeXt-A"}
    return kind[row["net"]["block_type"]] + ("_in" if row["imagenet"] else "")


def official(stem: str) -> list[tuple[dict, int, int | None]]:
    """The entries counted by the official code for this family (their `flops` are the pycls-convention
    count of that code, used here as the fixture's file value)."""
    rows = json.loads((HERE / "official_counts.json").read_text())["counts"]
    return [(r["net"], r["params"], r.get("flops")) for r in rows if _family(r) == stem]


def write(stem: str, entries: list[dict]) -> None:
    data = {"top": entries[: len(entries) // 2], "mid": entries[len(entries) // 2:]} if stem.endswith("_reruns") else entries
    (HERE / f"{stem}.json").write_text(json.dumps(data, allow_nan=True))


def main() -> None:
    families = {}
    for stem in STEMS:
        f = NDSFile(stem)
        families.setdefault((f.space, f.imagenet), stem)  # the first stem of a family: its plain file
    for (space, imagenet), stem in families.items():
        bench = get_benchmark(NDSFile(stem).benchmark_name)
        rng = random.Random(stem)
        items = []
        for net, params, flops in official(stem):
            if params in FILE_FLOPS and not imagenet:  # the file's flops where RECIPES gives them
                flops = FILE_FLOPS[params]
            items.append((net, params, flops if flops is not None else counts(bench, net)[1]))
        for k in range(4):
            if NDSFile(stem).is_cell_space:
                net = random_cell_net(space, rng, width=4 + 4 * (k % 2), depth=3 + 3 * (k // 2) if not imagenet else 3,
                                      aux=(k == 3 and not imagenet))
            else:
                net = random_anynet(space, rng, scale=1 + k, imagenet=imagenet)
            items.append((net, *counts(bench, net)))
        items.sort(key=lambda item: item[1])  # by parameter count
        n = len(items)
        errors = [round(40.0 - 30.0 * i / max(1, n - 1), 2) for i in range(n)]  # falls strictly with params
        if space != "ResNet":
            rng.shuffle(errors)
        write(stem, [entry(net, p, fl, err, seed=i, nan_loss=(i == 1)) for i, ((net, p, fl), err)
                     in enumerate(zip(items, errors))])
    # a reruns file: the same nets trained again (each net twice), read as top then mid
    vanilla = json.loads((HERE / "Vanilla.json").read_text())
    reruns = []
    for e in vanilla:
        test = e["test_ep_top1"][:-1] + [round(e["test_ep_top1"][-1] + 0.5, 2)]
        reruns.append(dict(e, rng_seed=e["rng_seed"] + 100, job_id=e["job_id"] + 100, test_ep_top1=test,
                           min_test_top1=min(test)))
    write("Vanilla_reruns", vanilla[:3] + reruns[:3])


def write_large(count: int, path: Path, curve: int = 4000) -> None:
    """A DARTS.json of `count` entries (random nets, width 16-32, depth 8-20) with per-iteration curves of
    `curve` points, written entry by entry. Only the entries the import checks (eight, spread over the file)
    carry their true parameter count; the others a placeholder (it is for timing the reader)."""
    bench = get_benchmark("nds-darts")
    rng = random.Random(0)
    checked = {round(i * (count - 1) / 7) for i in range(8)}
    with open(path, "w") as f:
        f.write("[")
        for i in range(count):
            net = random_cell_net("DARTS", rng, width=rng.choice([16, 24, 32]), depth=rng.choice([8, 12, 16, 20]))
            params = counts(bench, net)[0] if i in checked else 1000 + i
            e = entry(net, params, 1_000_000 + i, round(rng.uniform(3, 30), 2), seed=i, nan_loss=(i % 7 == 0))
            e["train_it_loss"] = [round(rng.random(), 4) for _ in range(curve)]
            e["train_it_top1"] = [round(100 * rng.random(), 2) for _ in range(curve)]
            f.write(("," if i else "") + json.dumps(e))
        f.write("]")


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 4 and sys.argv[1] == "--large":
        write_large(int(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
