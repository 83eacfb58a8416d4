"""NDS network builders (RECIPES.md section 5): parameter counts against the official code, the model
protocol (block features, shapes, streaming), the aux head that never runs, and one-line validation errors.

tests/data/nds/official_counts.json holds counts obtained by running the official unnas / pycls code on
the entries it lists (its "_about" says how); rebuilding them here must give exactly the same numbers.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from zcbench.benchmarks.nds.anynet import BLOCK_TYPES, AnyNet, validate_anynet_net
from zcbench.benchmarks.nds.cells import CELL_SPACES, NDSCellNetwork, validate_cell_net
from zcbench.errors import ZCBenchError

COUNTS = json.loads((Path(__file__).parent / "data" / "nds" / "official_counts.json").read_text())
ENTRIES = COUNTS["counts"]

# RECIPES section 5 validation vector: Amoeba, width 32, depth 12, CIFAR-10, no aux
AMOEBA_VECTOR = {
    "genotype": {
        "normal": [["avg_pool_3x3", 0], ["conv_7x1_1x7", 1], ["sep_conv_3x3", 2], ["sep_conv_5x5", 0],
                   ["dil_sep_conv_3x3", 2], ["dil_sep_conv_3x3", 2], ["skip_connect", 4], ["dil_sep_conv_3x3", 4],
                   ["conv_7x1_1x7", 2], ["sep_conv_3x3", 4]],
        "normal_concat": [3, 5, 6],
        "reduce": [["avg_pool_3x3", 0], ["dil_sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 0],
                   ["skip_connect", 2], ["sep_conv_7x7", 0], ["conv_7x1_1x7", 4], ["skip_connect", 4],
                   ["conv_7x1_1x7", 0], ["conv_7x1_1x7", 5]],
        "reduce_concat": [3, 6],
    },
    "width": 32, "depth": 12, "aux": False, "drop_prob": 0.0,
}
# DARTS-V2 (unnas pycls/models/nas/genotypes.py DARTS_V2), width 36, depth 20
DARTS_V2 = {
    "genotype": {
        "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1],
                   ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2]],
        "normal_concat": [2, 3, 4, 5],
        "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
                   ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1]],
        "reduce_concat": [2, 3, 4, 5],
    },
    "width": 36, "depth": 20, "aux": False, "drop_prob": 0.0,
}


def _build(entry: dict) -> nn.Module:
    if entry["space"] == "AnyNet":
        return AnyNet(entry["net"], entry["num_classes"], entry["resolution"])
    return NDSCellNetwork(entry["net"], entry["num_classes"], entry["imagenet"])


def _tiny_cell_net(space: str, imagenet: bool = False, aux: bool = False) -> NDSCellNetwork:
    """The space's genotype from the official-counts file at width 8, depth 3 (both reductions)."""
    entry = next(e for e in ENTRIES if e["space"] == space)
    net = dict(copy.deepcopy(entry["net"]), width=8, depth=3, aux=aux)
    return NDSCellNetwork(net, 10, imagenet)


TINY_ANYNETS = {
    "double_plain_block": {"block_type": "double_plain_block", "ds": [1, 1, 2, 1], "ws": [8, 8, 16, 24],
                           "ss": [1, 1, 2, 2], "bot_muls": [1.0, 1.0, 1.0, 1.0], "num_gs": [1, 1, 1, 1]},
    "res_basic_block": {"block_type": "res_basic_block", "ds": [1, 2, 1, 1], "ws": [8, 8, 16, 16],
                        "ss": [2, 1, 2, 1], "bot_muls": [1.0, 1.0, 1.0, 1.0], "num_gs": [1, 1, 1, 1]},
    "res_bottleneck_block": {"block_type": "res_bottleneck_block", "ds": [1, 1, 2, 1], "ws": [8, 16, 24, 32],
                             "ss": [1, 1, 2, 2], "bot_muls": [1.0, 0.5, 1.0, 0.25], "num_gs": [1, 2, 3, 4]},
}


# ---- reference counts -------------------------------------------------------------------------------------
def test_recipes_amoeba_vector():
    model = NDSCellNetwork(AMOEBA_VECTOR, 10, imagenet=False)
    assert model.num_params() == 4_190_314
    assert model.auxiliary_head is None
    model.file_flops = 664_400_586
    assert model.flops() == 664.400586  # millions, the model protocol's unit


def test_recipes_darts_v2_vector():
    assert NDSCellNetwork(DARTS_V2, 10, imagenet=False).num_params() == 3_349_342


def test_official_counts_file_covers_every_space_both_layouts_and_aux():
    assert COUNTS["_about"]
    spaces = {e["space"] for e in ENTRIES}
    assert spaces == set(CELL_SPACES) | {"AnyNet"}
    assert any(e["imagenet"] and e["space"] != "AnyNet" for e in ENTRIES)
    assert any(e["net"].get("aux") and e["imagenet"] for e in ENTRIES)
    assert any(e["net"].get("aux") and not e["imagenet"] for e in ENTRIES)
    assert {e["net"]["block_type"] for e in ENTRIES if e["space"] == "AnyNet"} == set(BLOCK_TYPES)
    for entry in ENTRIES:
        if entry["space"] != "AnyNet":
            validate_cell_net(entry["net"], entry["space"])


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: f"{e['space']}-{'in' if e['imagenet'] else 'cifar'}"
                         f"-{e['net'].get('block_type', e['net'].get('width'))}")
def test_official_counts_rebuilt_exactly(entry):
    model = _build(entry)
    assert model.num_params() == entry["params"] == sum(p.numel() for p in model.parameters())
    if entry["flops"] is not None:
        assert model.analytic_flops() == entry["flops"]
        assert model.flops() == entry["flops"] / 1e6  # no file value set: ours, in millions


# ---- model protocol ---------------------------------------------------------------------------------------
def _check_protocol(model: nn.Module, x: torch.Tensor, num_blocks: int) -> None:
    features = model.block_features(x)
    assert len(features) == num_blocks
    assert [tuple(f.shape) for f in features] == model.block_shapes(tuple(x.shape))
    assert all(f.grad_fn is not None for f in features)
    streamed = list(model.iter_block_features(x))
    assert len(streamed) == len(features)
    assert all(torch.equal(a, b) for a, b in zip(streamed, features))
    assert torch.equal(model.pre_pooling(x), features[-1])
    logits = model.logits(x)
    assert logits.shape == (x.shape[0], model.num_classes)
    assert torch.equal(model(x), logits)
    assert torch.allclose(logits, model.classifier(features[-1].mean((2, 3))), atol=1e-5)


@pytest.mark.parametrize("space", list(CELL_SPACES))
def test_cell_net_protocol(space):
    torch.manual_seed(0)
    model = _tiny_cell_net(space)
    _check_protocol(model, torch.randn(2, 3, 15, 15), num_blocks=1 + 3)  # odd size: ceil at each reduction


@pytest.mark.parametrize("space", ["DARTS", "NASNet"])
def test_imagenet_cell_net_protocol_and_stem_block(space):
    torch.manual_seed(0)
    model = _tiny_cell_net(space, imagenet=True)
    x = torch.randn(2, 3, 40, 40)
    _check_protocol(model, x, num_blocks=1 + 3)
    # "the stem output" on ImageNet is stem1's output (s1 of the first cell)
    assert torch.equal(model.block_features(x)[0], model.stem1(model.stem0(x)))
    assert model.block_shapes((2, 3, 224, 224))[0] == (2, 8, 28, 28)


@pytest.mark.parametrize("block_type", BLOCK_TYPES)
def test_anynet_protocol(block_type):
    torch.manual_seed(0)
    model = AnyNet(TINY_ANYNETS[block_type], 10)
    net = TINY_ANYNETS[block_type]
    _check_protocol(model, torch.randn(2, 3, 15, 15), num_blocks=1 + sum(net["ds"][1:]))


def test_anynet_groups_are_num_gs_and_bottleneck_width_rounds():
    model = AnyNet(TINY_ANYNETS["res_bottleneck_block"], 10)
    grouped = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) and m.groups > 1]
    assert sorted({(m.groups, m.in_channels) for m in grouped}) == [(2, 8), (3, 24), (4, 8)]
    assert model.stem[0].out_channels == 8 and model.stem[0].stride == (1, 1)


def test_aux_head_is_counted_but_never_run():
    torch.manual_seed(0)
    with_aux, without = _tiny_cell_net("Amoeba", aux=True), _tiny_cell_net("Amoeba", aux=False)
    aux_params = list(with_aux.auxiliary_head.parameters())
    assert with_aux.num_params() - without.num_params() == sum(p.numel() for p in aux_params) > 0
    x = torch.randn(2, 3, 32, 32)
    with_aux.train()
    with_aux.logits(x).sum().backward()
    sum(f.sum() for f in with_aux.block_features(x)).backward()
    with_aux.pre_pooling(x).sum().backward()
    assert all(p.grad is None for p in aux_params)
    assert with_aux.analytic_flops() == without.analytic_flops()
    assert with_aux.auxiliary_head[-1].out_features == 10


def test_cell_nets_have_no_conv_bias_and_affine_bn_and_survive_reinit():
    torch.manual_seed(0)
    for space in CELL_SPACES:
        model = _tiny_cell_net(space, aux=True)
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        assert convs and all(m.bias is None for m in convs)
        assert bns and all(m.affine for m in bns)
        for m in model.modules():  # what proxies do: re-initialise every Conv2d / Linear / BatchNorm2d
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight)
                nn.init.normal_(m.bias)
        assert torch.isfinite(model.logits(torch.randn(2, 3, 16, 16))).all()


def test_flops_prefers_the_file_value_in_millions():
    model = AnyNet(TINY_ANYNETS["res_basic_block"], 10)
    assert model.file_flops is None
    ours = model.analytic_flops()
    assert isinstance(ours, int) and ours > 1_000_000 and model.flops() == ours / 1e6
    model.file_flops = 123e6
    assert model.flops() == 123.0


# ---- validation -------------------------------------------------------------------------------------------
def _error(call, *args) -> str:
    with pytest.raises(ZCBenchError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


def _cell(**changes) -> dict:
    net = copy.deepcopy(DARTS_V2)
    net["genotype"].update(changes)
    return net


def test_cell_validation_errors_are_one_line():
    assert "unknown op 'conv_3x3' for space DARTS" in _error(
        validate_cell_net, _cell(normal=[["conv_3x3", 0]] + DARTS_V2["genotype"]["normal"][1:]), "DARTS")
    message = _error(validate_cell_net, _cell(reduce=DARTS_V2["genotype"]["reduce"][:-1]), "DARTS")
    assert "malformed genotype" in message and "node 5 has 1 input" in message
    assert "10 [op, input] pairs; DARTS cells have 4 nodes" in _error(
        validate_cell_net, _cell(normal=DARTS_V2["genotype"]["normal"] + [["none", 0], ["none", 1]]), "DARTS")
    assert "input index out of range: normal node 2 reads state 2" in _error(
        validate_cell_net, _cell(normal=[["sep_conv_3x3", 2]] + DARTS_V2["genotype"]["normal"][1:]), "DARTS")
    assert "concat index out of range" in _error(validate_cell_net, _cell(normal_concat=[2, 6]), "DARTS")
    assert "concat index out of range" in _error(validate_cell_net, _cell(reduce_concat=[0, 2]), "DARTS")
    assert "missing key 'reduce_concat'" in _error(
        validate_cell_net, {**DARTS_V2, "genotype": {k: v for k, v in DARTS_V2["genotype"].items()
                                                     if k != "reduce_concat"}}, "DARTS")
    assert "missing key 'depth'" in _error(validate_cell_net, {k: v for k, v in DARTS_V2.items() if k != "depth"})
    assert "bad width" in _error(validate_cell_net, {**DARTS_V2, "width": 0}, "DARTS")
    assert "bad depth" in _error(validate_cell_net, {**DARTS_V2, "depth": "20"}, "DARTS")
    assert "unknown cell space" in _error(validate_cell_net, DARTS_V2, "DARTS_in")
    assert "bad width" in _error(NDSCellNetwork, {**DARTS_V2, "width": 7}, 1000, True)
    assert "unknown op 'conv_9x9'" in _error(
        NDSCellNetwork, _cell(normal=[["conv_9x9", 0]] + DARTS_V2["genotype"]["normal"][1:]), 10, False)
    validate_cell_net({**AMOEBA_VECTOR, "extra": 1}, "Amoeba")  # extra keys are ignored


def test_anynet_validation_errors_are_one_line():
    good = TINY_ANYNETS["res_bottleneck_block"]
    assert "bad AnyNet ws: needs 4 elements (stem + 3 stages), got 3" in _error(
        validate_anynet_net, {**good, "ws": [8, 16, 24]})
    assert "unknown AnyNet block_type 'res_fancy_block'" in _error(
        validate_anynet_net, {**good, "block_type": "res_fancy_block"})
    assert "missing key 'num_gs'" in _error(validate_anynet_net, {k: v for k, v in good.items() if k != "num_gs"})
    assert "bad AnyNet num_gs[2] 5" in _error(validate_anynet_net, {**good, "num_gs": [1, 2, 5, 4]})
    assert "bad AnyNet depth ds[1]" in _error(validate_anynet_net, {**good, "ds": [1, 0, 2, 1]})
    assert "bad AnyNet ws" in _error(AnyNet, {**good, "ws": [8, 16]}, 10)
    validate_anynet_net({**TINY_ANYNETS["res_basic_block"], "unused": None})
