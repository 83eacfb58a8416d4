"""AutoFormer (RECIPES.md section 7): the official counts, the shared supernet and its slicing, the strings,
and AZ-NAS on ViTs (no progressivity, identity pairs skipped, aggregation over the components that apply)."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zcbench import ZCBenchError, get_benchmark, get_proxy
from zcbench.analysis import aggregated_components_of, resolve
from zcbench.benchmarks.autoformer import TINY_RESULT
from zcbench.benchmarks.autoformer.space import SUBSETS, Candidate, parse, sampled_params
from zcbench.cell import score_cell
from zcbench.proxies.az import FAST, FAST_VIT, az_components

AZ_COMPONENTS = ("expressivity", "progressivity", "trainability", "complexity")
#: float64 spectra: at a CPU size (resolution 32, batch 4: 20 tokens for 192+ channels) the covariance is
#: rank-deficient, and float32 round-off makes some of its zero eigenvalues negative (NaN entropy)
CPU_SIZE = dict(batch_size=4, resolution=32, options={"spectral_dtype": "float64"})


def smallest(subset: str) -> str:
    s = SUBSETS[subset]
    d = s.depths[0]
    return Candidate(d, min(s.embed_dims), (min(s.mlp_ratios),) * d, (min(s.num_heads),) * d).key()


# ---- official counts ---------------------------------------------------------------------------------
def test_the_official_tiny_result_has_the_papers_params_and_flops():
    bench = get_benchmark("autoformer-tiny")
    measures = bench.measures(TINY_RESULT)
    assert measures["params"] == 5_921_032  # paper Table 3: 5.92M
    assert measures["flops"] == 1_380_128_376  # the official get_complexity; paper: 1.38G
    model = bench.build(TINY_RESULT, "imagenet")
    assert model.num_params() == 5_921_032 and model.flops() == pytest.approx(1380.128376)


@pytest.mark.parametrize("subset, official", [("tiny", 11_669_224), ("small", 34_790_440), ("base", 80_160_360)])
def test_every_supernet_builds_with_the_official_size(subset, official):
    """The supernet equals the largest slice of itself; sizes as the official supernet's parameters."""
    s = SUBSETS[subset]
    whole = Candidate(s.super_depth, s.super_embed_dim, (4.0,) * s.super_depth, (s.super_heads,) * s.super_depth)
    assert sampled_params(whole) == official
    supernet = get_benchmark(f"autoformer-{subset}").supernet(0)
    assert supernet.num_params() == official
    assert all(torch.isfinite(t).all() for t in supernet.tensors.values())


# ---- slices against a plain standalone ViT -------------------------------------------------------------
def standalone_logits(t: dict[str, torch.Tensor], c: Candidate, x: torch.Tensor) -> tuple[torch.Tensor, list]:
    """A plain restatement of the official subnet, reading the supernet's tensors: every slice taken here,
    attention one head at a time with the relative embeddings gathered per (query, key) pair."""
    e = c.embed_dim
    h = F.conv2d(x, t["patch_embed.weight"][:e], t["patch_embed.bias"][:e], stride=16).flatten(2).transpose(1, 2)
    h = torch.cat([t["cls_token"][..., :e].expand(x.shape[0], 1, e), h], 1)
    n = h.shape[1]
    h = h + t["pos_embed"][:, :n, :e]
    side = int(math.isqrt(n - 1))
    rows = torch.zeros(n, n, dtype=torch.long), torch.zeros(n, n, dtype=torch.long)
    for i in range(1, n):
        for j in range(1, n):
            dv = (j - 1) // side - (i - 1) // side
            dh = (j - 1) % side - (i - 1) % side
            rows[0][i, j] = max(-14, min(14, dv)) + 15
            rows[1][i, j] = max(-14, min(14, dh)) + 15
    features = []
    for layer in range(c.depth):
        p, heads, hidden = f"layers.{layer}.", c.num_heads[layer], c.hidden(layer)
        w = t[p + "attn.qkv.weight"][:, :e]
        b = t[p + "attn.qkv.bias"]
        y = F.layer_norm(h, (e,), t[p + "attn_norm.weight"][:e], t[p + "attn_norm.bias"][:e])
        q = y @ w[0::3][:64 * heads].T + b[:64 * heads]
        k = y @ w[1::3][:64 * heads].T + b[64 * heads:128 * heads]
        v = y @ w[2::3][:64 * heads].T + b[128 * heads:192 * heads]
        rel_k = t[p + "attn.rel_k.vertical"][rows[0]] + t[p + "attn.rel_k.horizontal"][rows[1]]
        rel_v = t[p + "attn.rel_v.vertical"][rows[0]] + t[p + "attn.rel_v.horizontal"][rows[1]]
        outs = []
        for head in range(heads):
            cut = slice(64 * head, 64 * (head + 1))
            qh, kh, vh = q[..., cut], k[..., cut], v[..., cut]
            logits = (qh @ kh.transpose(1, 2) + (qh.unsqueeze(2) * rel_k).sum(-1)) / 8.0
            a = logits.softmax(-1)
            outs.append(a @ vh + (a.unsqueeze(-1) * rel_v).sum(2))
        attn = torch.cat(outs, -1) @ t[p + "attn.proj.weight"][:e, :64 * heads].T + t[p + "attn.proj.bias"][:e]
        h = h + attn
        features.append(h)
        y = F.layer_norm(h, (e,), t[p + "mlp_norm.weight"][:e], t[p + "mlp_norm.bias"][:e])
        y = F.gelu(y @ t[p + "fc1.weight"][:hidden, :e].T + t[p + "fc1.bias"][:hidden])
        h = h + y @ t[p + "fc2.weight"][:e, :hidden].T + t[p + "fc2.bias"][:e]
        features.append(h)
    pooled = F.layer_norm(h, (e,), t["norm.weight"][:e], t["norm.bias"][:e])[:, 1:].mean(1)
    return pooled @ t["head.weight"][:, :e].T + t["head.bias"], features


@pytest.mark.parametrize("subset", sorted(SUBSETS))
def test_a_slice_computes_what_a_standalone_vit_with_the_sliced_weights_computes(subset):
    bench = get_benchmark(f"autoformer-{subset}")
    arch = bench.sample(random.Random(4))
    supernet = bench.supernet(0)
    # random (not initial) norms and biases, so that every slice and its position matter; float64, so that
    # the two summation orders agree to 1e-10
    tensors = {k: (v + 0.1 * torch.randn(v.shape, generator=torch.Generator().manual_seed(i))).double()
               for i, (k, v) in enumerate(supernet.tensors.items())}
    saved, supernet.tensors = supernet.tensors, tensors
    try:
        model = bench.build_shared(arch, "imagenet", 0)
    finally:
        supernet.tensors = saved
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    want, want_features = standalone_logits(tensors, parse(arch, SUBSETS[subset]), x)
    with torch.no_grad():
        assert torch.allclose(model.logits(x), want, rtol=1e-10, atol=1e-10)
        got = model.block_features(x)
    assert len(got) == len(want_features) == 2 * parse(arch, SUBSETS[subset]).depth
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-10) for a, b in zip(got, want_features))
    assert model.num_params() == bench.measures(arch)["params"]


def test_candidates_of_a_run_share_the_supernet_of_the_run_seed():
    bench = get_benchmark("autoformer-tiny")
    small, other = smallest("tiny"), TINY_RESULT
    a, b = bench.build_shared(small, "imagenet", 3), bench.build_shared(other, "imagenet", 3)
    assert torch.equal(a.layers[0].fc1.weight[:600], b.layers[0].fc1.weight[:600])
    assert torch.equal(a.patch_embed.weight, bench.supernet(3).tensors["patch_embed.weight"][:192])
    assert not torch.equal(a.patch_embed.weight, bench.build_shared(small, "imagenet", 4).patch_embed.weight)
    a.layers[0].fc1.weight.data.zero_()  # a slice owns copies: the supernet is untouched
    assert bench.supernet(3).tensors["layers.0.fc1.weight"].abs().sum() > 0


# ---- strings, sampling, search hooks -----------------------------------------------------------------
def test_strings_parse_print_canonically_and_say_what_is_wrong():
    bench = get_benchmark("autoformer-tiny")
    assert bench.canonical(TINY_RESULT.replace("4.0", "4")) == TINY_RESULT
    assert bench.canonical(f" {TINY_RESULT} ") == TINY_RESULT
    ratios, heads = TINY_RESULT.split(":")[2:]
    wrong = {
        f"11:192:{ratios}:{heads}": "depth 11",
        f"12:200:{ratios}:{heads}": "embedding dimension 200",
        f"12:192:3.0{ratios[3:]}:{heads}": "layer 1 has MLP ratio 3",
        f"12:192:{ratios}:5{heads[1:]}": "layer 1 has head count 5",
        f"12:192:{ratios},3.5:{heads}": "13 MLP ratios for depth 12",
        f"12:192:{ratios}:{heads[:-2]}": "11 head counts for depth 12",
        f"12:192:{ratios}": "depth:embed_dim:mlp_ratios:num_heads",
        f"12:192:{ratios}:x{heads[1:]}": "cannot read the head counts",
    }
    for text, message in wrong.items():
        with pytest.raises(ZCBenchError) as info:
            bench.canonical(text)
        assert message in str(info.value) and "\n" not in str(info.value), (text, str(info.value))
    for call in (lambda: bench.space(), lambda: len(bench), lambda: bench.arch(0)):
        with pytest.raises(ZCBenchError, match="zcbench search"):
            call()
    with pytest.raises(ZCBenchError, match="random search"):
        bench.mutate(TINY_RESULT, random.Random(0), 0, {})
    assert bench.initial_arch() is None and not bench.enumerable and bench.family == "autoformer"


@pytest.mark.parametrize("subset", sorted(SUBSETS))
def test_sampling_draws_in_the_official_order(subset):
    """depth, each layer's MLP ratio, each layer's heads, then one embedding dimension, all `choice`s."""
    s, bench = SUBSETS[subset], get_benchmark(f"autoformer-{subset}")
    for seed in range(5):
        replay = random.Random(seed)
        depth = replay.choice(s.depths)
        ratios = [replay.choice(s.mlp_ratios) for _ in range(depth)]
        heads = [replay.choice(s.num_heads) for _ in range(depth)]
        arch = Candidate(depth, replay.choice(s.embed_dims), tuple(ratios), tuple(heads)).key()
        assert bench.sample(random.Random(seed)) == arch == bench.canonical(arch)
        assert set(bench.measures(arch)) == {"params", "flops"}


# ---- AZ-NAS on ViTs ------------------------------------------------------------------------------------
def test_az_scores_tiny_candidates_without_progressivity():
    bench, az = get_benchmark("autoformer-tiny"), get_proxy("az")
    for arch in (smallest("tiny"), TINY_RESULT):
        result = score_cell(bench, "imagenet", az, arch, 0, **CPU_SIZE)
        assert result.ok, result.error
        assert set(result.values) == set(AZ_COMPONENTS)
        assert all(math.isfinite(result.values[c]) for c in ("expressivity", "trainability", "complexity"))
        assert math.isnan(result.values["progressivity"])
        assert result.values["complexity"] == pytest.approx(bench.measures(arch)["flops"] / 1e6)
        again = score_cell(bench, "imagenet", az, arch, 0, **CPU_SIZE)
        assert np.array_equal(list(result.values.values()), list(again.values.values()), equal_nan=True)
    other_seed = score_cell(bench, "imagenet", az, TINY_RESULT, 0, seed=1, **CPU_SIZE)
    assert other_seed.values["expressivity"] != result.values["expressivity"]  # another run, another supernet


def test_identity_pairs_are_skipped_not_minus_infinity():
    """A layer whose MLP branch is zero makes its pair (attention add -> MLP add) an exact identity."""
    model = get_benchmark("autoformer-tiny").build(smallest("tiny"), "imagenet")
    with torch.no_grad():
        model.layers[1].fc2.weight.zero_()
        model.layers[1].fc2.bias.zero_()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    pairs = FAST_VIT.batched_trainability(model.block_features(x), torch.Generator().manual_seed(2), torch.float64)
    skipped = [i for i, s in enumerate(pairs) if s is None]
    last = 2 * model.candidate.depth - 1  # pairs run from the last feature down: pair (2, 3) is 3rd from the end
    assert skipped == [last - 3]
    kept = [s for s in pairs if s is not None]
    for batched in (True, False):
        _, progressivity, trainability = az_components(model.block_features(x), torch.Generator().manual_seed(2),
                                                       torch.float64, batched, execution=FAST_VIT)
        assert trainability == pytest.approx(np.mean(kept), rel=1e-9) and math.isnan(progressivity)
    section_2 = az_components(model.block_features(x), torch.Generator().manual_seed(2), torch.float64, execution=FAST)
    assert section_2[2] == -math.inf  # the CNN recipe's -inf, which the ViT recipe does not use


def test_aggregation_leaves_progressivity_out_on_autoformer_only():
    bench = get_benchmark("autoformer-tiny")
    assert bench.aggregated_components("az", AZ_COMPONENTS) == ("expressivity", "trainability", "complexity")
    assert bench.aggregated_components("tenas", ("ntk", "linear_regions")) == ("ntk", "linear_regions")
    assert get_benchmark("nb201").aggregated_components("az", AZ_COMPONENTS) == AZ_COMPONENTS
    values = {"expressivity": np.array([1.0, 2.0, 3.0]), "progressivity": np.full(3, np.nan),
              "trainability": np.array([-1.0, -3.0, -2.0]), "complexity": np.array([5.0, 4.0, 6.0])}
    entry = SimpleNamespace(name="az", label="az", components=list(AZ_COMPONENTS), spec={"aggregate": "nonlinear"},
                            config={}, mean=values.__getitem__, scored=lambda: np.ones(3, bool))
    view = SimpleNamespace(bench="autoformer-tiny", entries={"az": entry})
    assert aggregated_components_of(view, "az") == ["az.expressivity", "az.trainability", "az.complexity"]
    column = resolve(view, "az")
    assert len(column.parts) == 3 and np.isfinite(column.values()).all()
    assert len(resolve(SimpleNamespace(bench="nb201", entries={"az": entry}), "az").parts) == 4


def test_proxies_that_need_relu_codes_are_declared_inapplicable():
    bench = get_benchmark("autoformer-tiny")
    for name in ("naswot", "tenas"):
        result = score_cell(bench, "imagenet", get_proxy(name), smallest("tiny"), 0, batch_size=4, resolution=32)
        assert not result.ok and "does not apply to autoformer-tiny" in result.error and "ReLU" in result.error
