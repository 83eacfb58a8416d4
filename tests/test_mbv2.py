"""The mbv2 (ZenNAS IDW) space, RECIPES.md section 6: analytic counts to the last unit, the official
mutation draw for draw, structure-string validation, the network and AZ-NAS on it.

The golden children below were produced by this implementation and checked against the official AZ-NAS
code (ImageNet_MBV2: `get_new_random_structure_str` with `gen_search_space` of
SearchSpace/search_space_IDW_fixfc.py, run outside the repository under `random.seed(seed)`): 40 seeds
x 50 successive children agreed string for string, and the official `get_FLOPs(224)` / `get_model_size()` /
`get_num_layers()` agreed with `analytic_counts` on every one of them.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter

import pytest
import torch

from zcbench import ZCBenchError, get_benchmark, get_proxy
from zcbench.benchmarks.mbv2.counts import analytic_counts, block_counts
from zcbench.benchmarks.mbv2.model import ptflops_flops
from zcbench.benchmarks.mbv2.mutation import (candidates, layer_choices, mutate_blocks, replacements_for,
                                              split_deep_blocks, width_choices)
from zcbench.benchmarks.mbv2.structure import (IDW_TYPES, INITIAL_STRUCTURE, canonical, parse_block,
                                               parse_structure, round8, to_string)
from zcbench.cell import score_cell
from zcbench.searchspace import Budget

INITIAL = INITIAL_STRUCTURE
# ZenNAS's published zennet_imagenet1k_flops400M_res224 (idstcv/ZenNAS, ZenNet/*.txt)
ZENNAS_400M = ("SuperConvK3BNRELU(3,16,2,1)SuperResIDWE1K7(16,40,2,40,1)SuperResIDWE1K7(40,64,2,64,1)"
               "SuperResIDWE4K7(64,96,2,96,5)SuperResIDWE2K7(96,224,2,224,5)SuperConvK1BNRELU(224,2048,1,1)")


@pytest.fixture(scope="module")
def bench():
    return get_benchmark("mbv2")


# ---- analytic counts ----------------------------------------------------------------------------------
def test_analytic_counts_match_the_official_vectors():
    assert analytic_counts(INITIAL) == (162_396_776, 2_813_889, 6)
    assert block_counts(parse_block("SuperResIDWE6K3(8,32,2,8,1)"), 112) == (39_921_280, 11_488)
    assert analytic_counts(ZENNAS_400M) == (399_976_216, 5_673_833, 14)


def test_the_shortcut_quirk_counts_stride_2_shortcuts_at_a_quarter():
    """Without the quirk the 4 stride-2 projections cost (in*out + out) * r^2 instead of * (r/2)^2."""
    real = analytic_counts(INITIAL, shortcut_quirk=False)
    shortcuts = sum((c_in * c_out + c_out) * r * r for c_in, c_out, r in
                    ((8, 8, 56), (32, 32, 28), (48, 48, 14), (96, 96, 7)))
    assert real.flops - analytic_counts(INITIAL).flops == shortcuts * 3 / 4 == 1_478_232
    assert real.params == 2_813_889


def test_measures_are_the_budget_quantities(bench):
    assert bench.measures(INITIAL) == {"flops": 162_396_776.0, "params": 2_813_889.0, "layers": 6.0}
    assert Budget(max_layers=14, max_flops=450e6).violation(bench.measures(ZENNAS_400M)) is None
    assert Budget(max_layers=13).violation(bench.measures(ZENNAS_400M)) == "layers 14 > 13"


def test_ptflops_counts_the_built_network():
    """The official network under ptflops 0.7 (its pinned version) gives these, measured outside the repo."""
    assert ptflops_flops(INITIAL) == 168_644_296
    assert ptflops_flops(ZENNAS_400M) == 409_661_576


# ---- candidates and mutation -------------------------------------------------------------------------
def test_round8_and_the_width_and_depth_lists():
    assert [round8(x) for x in (20, 36, 44, 3, 12)] == [16, 32, 48, 8, 16]
    assert width_choices(32) == [80, 64, 48, 40, 32, 24, 16]
    assert width_choices(8) == [16, 8]
    assert layer_choices(1) == [3, 2, 1] and layer_choices(4) == [6, 5, 4, 3, 2]


def test_official_candidates_weight_the_block_types_by_position():
    flat = candidates(parse_structure(INITIAL), 1)
    assert len(flat) == 3738 and flat == sorted(flat)
    per_type = Counter(c.split("(")[0] for c in flat)
    assert per_type["SuperResIDWE1K3"] == 504 and per_type["SuperResIDWE6K7"] == 84
    assert [per_type[t] // 42 for t in IDW_TYPES] == [12, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2]
    assert all(c.startswith(f"{c.split('(')[0]}(8,") and ",2," in c for c in flat)  # in and stride kept


def test_uniform_candidates_list_each_candidate_once():
    flat = candidates(parse_structure(INITIAL), 1, "uniform")
    assert len(flat) == len(set(flat)) == 12 * 42
    assert set(flat) == set(candidates(parse_structure(INITIAL), 1))


def test_stem_and_head_candidates():
    blocks = parse_structure(INITIAL)
    assert candidates(blocks, 0) == ["SuperConvK3BNRELU(3,16,2,1)", "SuperConvK3BNRELU(3,8,2,1)"]
    assert candidates(blocks, 5) == ["SuperConvK1BNRELU(128,2048,1,1)"]


def test_replacements_follow_the_official_history_length():
    assert [replacements_for(k) for k in (0, 10, 11, 500)] == [1, 1, 2, 2]


def _chain(seed: int, steps: int, mode: str = "official") -> list[str]:
    """`steps` successive children from the initial structure, each a child of the previous one."""
    rng, blocks, out = random.Random(seed), parse_structure(INITIAL), []
    for k in range(steps):
        blocks = mutate_blocks(blocks, rng, replacements_for(k), mode)
        out.append(to_string(blocks))
    return out


def test_mutation_is_deterministic_and_matches_the_official_children():
    chain = _chain(123, 13)
    assert chain == _chain(123, 13)
    assert chain[0] == chain[1] == INITIAL  # the stem redrawn at width 8, then the head (its only candidate)
    assert chain[2] == ("SuperConvK3BNRELU(3,8,2,1)SuperResIDWE6K3(8,32,2,8,1)SuperResIDWE1K5(32,64,2,48,3)"
                        "SuperResIDWE6K3(64,96,2,48,1)SuperResIDWE6K3(96,128,2,96,1)SuperConvK1BNRELU(128,2048,1,1)")
    # child 13 splits an L = 7 block into 3 + 4
    assert chain[12] == ("SuperConvK3BNRELU(3,16,2,1)SuperResIDWE1K3(16,120,2,16,3)SuperResIDWE6K3(120,24,2,8,3)"
                         "SuperResIDWE6K3(24,24,1,8,4)SuperResIDWE1K3(24,96,2,72,3)SuperResIDWE4K5(96,1024,2,1504,1)"
                         "SuperConvK1BNRELU(1024,2048,1,1)")
    # seed 0, child 15: an L = 6 block split into 3 + 3
    assert _chain(0, 15)[14] == ("SuperConvK3BNRELU(3,8,2,1)SuperResIDWE6K3(8,32,2,8,1)SuperResIDWE2K5(32,160,2,64,4)"
                                 "SuperResIDWE4K3(160,32,2,48,1)SuperResIDWE2K3(32,400,2,160,3)"
                                 "SuperResIDWE2K3(400,400,1,160,3)SuperConvK1BNRELU(400,2048,1,1)")


def test_children_are_canonical_and_chained(bench):
    for child in _chain(5, 40) + _chain(5, 40, "uniform"):
        assert canonical(child) == child
        assert all(b.layers < 6 for b in parse_structure(child) if b.is_idw)


def test_split_of_deep_blocks():
    block = parse_block("SuperResIDWE4K5(32,64,2,48,6)")
    assert to_string(split_deep_blocks([block])) == "SuperResIDWE4K5(32,64,2,48,3)SuperResIDWE4K5(64,64,1,48,3)"
    assert split_deep_blocks([dataclasses.replace(block, layers=5)]) == [dataclasses.replace(block, layers=5)]


def test_search_space_interface(bench):
    assert bench.initial_arch() == INITIAL
    child = bench.mutate(INITIAL, random.Random(3), 20, {"mutation": "uniform"})
    assert canonical(child) == child
    with pytest.raises(ZCBenchError):
        bench.mutate(INITIAL, random.Random(3), 0, {"mutation": "weighted"})
    samples = [bench.sample(random.Random(i)) for i in range(20)]
    assert samples == [bench.sample(random.Random(i)) for i in range(20)]
    assert all(canonical(s) == s and bench.measures(s)["layers"] <= 14 for s in samples)


# ---- structure strings -------------------------------------------------------------------------------
def test_canonical_round_trip(bench):
    spaced = INITIAL.replace(",", ", ").replace(")S", ") S")
    assert bench.canonical(spaced) == INITIAL and bench.canonical(INITIAL) == INITIAL
    assert bench.canonical(ZENNAS_400M) == ZENNAS_400M


def _edit(old: str, new: str) -> str:
    """The initial structure with one edit."""
    assert old in INITIAL
    return INITIAL.replace(old, new)


B3 = "SuperResIDWE6K3(32,48,2,32,1)"


@pytest.mark.parametrize("text, says", [
    ("not an architecture", "cannot read"),
    (_edit(B3, "SuperResIDWE9K3(32,48,2,32,1)"), "block 3 SuperResIDWE9K3(32,48,2,32,1): unknown block"),
    (_edit(B3, "SuperResIDWE6K3(32,48,2,32)"), "block 3 SuperResIDWE6K3(32,48,2,32): SuperResIDWE6K3 takes 5"),
    (_edit(B3, "SuperResIDWE6K3(40,48,2,32,1)"), "block 3 SuperResIDWE6K3(40,48,2,32,1): in 40 != out 32 of block 2"),
    (_edit(B3, "SuperResIDWE6K3(32,48,3,32,1)"), "block 3 SuperResIDWE6K3(32,48,3,32,1): stride must be 1 or 2"),
    (_edit(B3, "SuperResIDWE6K3(32,48,2,0,1)"), "block 3 SuperResIDWE6K3(32,48,2,0,1): btl must be positive"),
    (_edit(B3, "SuperResIDWE6K3(32,48,2,x,1)"), "block 3 SuperResIDWE6K3(32,48,2,x,1): btl 'x' is not an integer"),
    (_edit("SuperConvK3BNRELU(3,8", "SuperConvK5BNRELU(3,8"), "block 1 SuperConvK5BNRELU(3,8,2,1): the first block"),
    (_edit("SuperConvK1BNRELU(128,2048,1,1)", ""), "block 5 SuperResIDWE6K3(96,128,2,96,1): the last block"),
    (_edit(B3, "SuperConvK3BNRELU(32,48,2,1)"), "block 3 SuperConvK3BNRELU(32,48,2,1): between the stem"),
])
def test_invalid_structures_are_one_line_errors_naming_the_block(bench, text, says):
    with pytest.raises(ZCBenchError) as info:
        bench.canonical(text)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_the_space_is_searched_not_enumerated(bench):
    assert not bench.enumerable
    for call in (lambda: bench.space(), lambda: len(bench), lambda: bench.arch(0), lambda: bench.index(INITIAL),
                 lambda: bench.resolve_archs(None)):
        with pytest.raises(ZCBenchError) as info:
            call()
        assert "\n" not in str(info.value)
    with pytest.raises(ZCBenchError, match="zcbench search --bench mbv2"):
        bench.space()
    assert bench.resolve_archs(ZENNAS_400M) == [ZENNAS_400M]


# ---- the network -------------------------------------------------------------------------------------
def test_network_features_shapes_and_strides(bench):
    torch.manual_seed(0)
    model = bench.build(INITIAL, "imagenet").train()
    x = torch.randn(2, 3, 32, 32)
    features = model.block_features(x)
    # stem, 2 units per IDW block (the first of each halves the resolution), head
    assert [tuple(f.shape[1:]) for f in features] == [
        (8, 16, 16), (8, 8, 8), (32, 8, 8), (32, 4, 4), (48, 4, 4), (48, 2, 2), (96, 2, 2), (96, 1, 1),
        (128, 1, 1), (2048, 1, 1)]
    assert all(f.requires_grad for f in features)
    assert model.block_shapes(tuple(x.shape)) == [tuple(f.shape) for f in features]
    assert [tuple(f.shape) for f in model.iter_block_features(x)] == [tuple(f.shape) for f in features]
    assert model.logits(x).shape == (2, 1000) and model.pre_pooling(x).shape == (2, 2048, 1, 1)
    assert model.logits(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    assert model.flops() == pytest.approx(162.396776, abs=1e-9)  # analytic at 224 whatever the input
    assert model.num_params() == sum(p.numel() for p in model.parameters()) == 2_824_264


def test_network_modules_follow_the_recipe(bench):
    model = bench.build(ZENNAS_400M, "imagenet")
    assert len(model.block_shapes((1, 3, 224, 224))) == 2 + 2 * (1 + 1 + 5 + 5)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.eps == 1e-3 for m in bns)
    unit = model.blocks[3][0]  # SuperResIDWE4K7(64,96,2,96,5), sub-layer 0, unit A: 1x1 to round8(96*4)
    assert (unit.expand.out_channels, unit.depthwise.kernel_size, unit.depthwise.stride) == (384, (7, 7), (2, 2))
    assert unit.shortcut[0].bias is not None and unit.shortcut[0].stride == (2, 2)
    assert isinstance(model.blocks[3][2].shortcut, torch.nn.Identity)  # sub-layer 1, 96 -> 96: identity
    assert model.num_params() == 5_698_208  # the official network's parameter count


def test_az_on_the_initial_structure(bench):
    """At 32 x 32 the last features have 4 rows for up to 2048 channels: a rank-deficient covariance whose
    float32 eigenvalues go negative (NaN entropy, as the recipe says); float64 spectra keep it finite."""
    result = score_cell(bench, "imagenet", get_proxy("az"), INITIAL, 0, batch_size=4, resolution=32,
                        options={"spectral_dtype": "float64"})
    assert result.ok, result.error
    assert all(math.isfinite(result.values[k]) for k in ("expressivity", "progressivity", "trainability"))
    assert result.values["complexity"] == analytic_counts(INITIAL).flops / 1e6
