import pytest
import torch

from zcbench import get_benchmark
from zcbench.benchmarks.nb201.model import analytic_flops, live_edges
from zcbench.benchmarks.nb201.space import NUM_ARCHS, ops_of, parse
from zcbench.inits import kaiming_fanin
from zcbench.ops import plain_execution

NB = get_benchmark("nb201")
IDX13714 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
IDX2018 = "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@pytest.mark.parametrize(
    "arch, dataset, mflops",
    [
        (IDX13714, "cifar10", 153.273),
        (IDX13714, "cifar100", 153.279),
        (IDX13714, "ImageNet16-120", 38.326),
        (ALL_NONE, "cifar10", 7.783),
        (ALL_CONV3, "cifar10", 220.120),
        (IDX2018, "cifar10", 90.358),
        (IDX2018, "ImageNet16-120", 22.597),
    ],
)
def test_flops_test_vectors_of_recipes(arch, dataset, mflops):
    assert NB.build(arch, dataset).flops() == pytest.approx(mflops, abs=1e-3)


def test_flops_take_28_distinct_values_determined_by_conv_counts():
    values = {}
    for i in range(NUM_ARCHS):
        ops = ops_of(i)
        key = (ops.count("nor_conv_3x3"), ops.count("nor_conv_1x1"))
        values.setdefault(key, set()).add(analytic_flops(ops, 10, 32))
    assert all(len(v) == 1 for v in values.values())
    assert len({next(iter(v)) for v in values.values()}) == 28


@pytest.mark.parametrize("index", [0, 1, 777, 5000, 13714, 15624])
@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "ImageNet16-120"])
def test_analytic_params_equal_the_built_model(index, dataset):
    model = NB.build(NB.arch(index), dataset)
    assert model.num_params() == sum(p.numel() for p in model.parameters())


def test_flops_match_a_hook_count_of_the_built_model():
    """Count conv/linear multiply-adds with forward hooks and compare with the analytic formula."""
    model = NB.build(IDX13714, "cifar10")
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += k * module.in_channels * module.out_channels * output.shape[2] * output.shape[3]
        else:
            total += module.in_features * module.out_features + module.out_features

    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.register_forward_hook(hook)
    model.logits(torch.zeros(1, 3, 32, 32))
    assert total / 1e6 == pytest.approx(model.flops(), rel=1e-12)


@pytest.mark.parametrize("dataset, res, classes", [("cifar10", 32, 10), ("cifar100", 32, 100), ("ImageNet16-120", 16, 120)])
def test_model_protocol_shapes(dataset, res, classes):
    model = NB.build(IDX2018, dataset).train()
    x = torch.randn(2, 3, res, res)
    feats = model.block_features(x)
    assert len(feats) == 18
    assert [f.shape[1] for f in feats] == [16] * 6 + [32] * 6 + [64] * 6
    assert feats[0].shape[-1] == res and feats[-1].shape[-1] == res // 4
    assert all(f.requires_grad for f in feats)
    assert model.pre_pooling(x).shape == (2, 64, res // 4, res // 4)
    assert (model.pre_pooling(x) >= 0).all()  # after the head BN + ReLU
    assert model.logits(x).shape == (2, classes)


@pytest.mark.parametrize("dataset, res", [("cifar10", 32), ("ImageNet16-120", 16)])
def test_streamed_features_and_announced_shapes_match_the_forward(dataset, res):
    """`iter_block_features` yields what `block_features` returns, and `block_shapes` knows the shapes first."""
    torch.manual_seed(0)
    model = NB.build(IDX2018, dataset).train()
    x = torch.randn(3, 3, res, res)
    listed, streamed = model.block_features(x), list(model.iter_block_features(x))
    assert len(streamed) == len(listed) == 18
    assert all(torch.equal(a, b) and b.requires_grad for a, b in zip(listed, streamed))
    assert model.block_shapes(tuple(x.shape)) == [tuple(f.shape) for f in listed]


def test_none_edge_keeps_the_graph_with_zero_gradient():
    model = NB.build(ALL_NONE, "ImageNet16-120").train()
    x = torch.randn(4, 3, 16, 16)
    feats = model.block_features(x)
    assert torch.count_nonzero(feats[1]) == 0
    (g,) = torch.autograd.grad(feats[1], feats[0], torch.ones_like(feats[1]))
    assert torch.count_nonzero(g) == 0


def test_batchnorm_settings_follow_the_recipe():
    model = NB.build(IDX13714, "cifar10")
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(b.eps == 1e-5 and b.momentum == 0.1 and b.affine and b.track_running_stats for b in bns)
    assert all(m.bias is None for m in model.modules() if isinstance(m, torch.nn.Conv2d))


def test_live_edges_marks_what_can_reach_the_output():
    # node 1 feeds only `none` edges: the conv into it is a dead end
    assert live_edges(parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_1x1~2|")) == (
        False, True, False, False, False, True)
    # node 2 is never reached from the input: the conv leaving it sees zeros
    assert live_edges(parse("|skip_connect~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|")) == (
        True, False, False, True, True, False)
    assert live_edges(parse(ALL_CONV3)) == (True,) * 6
    assert live_edges(parse(ALL_NONE)) == (False,) * 6


DEAD_EDGE_CELLS = [
    "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_1x1~2|",
    "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|none~1|none~2|",  # output unreachable: all zeros
    "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|",  # identity
    # node 2 = node 1 = the input: three gradient paths meet at it, in another order once the zeros go
    "|skip_connect~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|nor_conv_1x1~1|skip_connect~2|",
    IDX13714,
]


@pytest.mark.contract
@pytest.mark.parametrize("arch", DEAD_EDGE_CELLS)
def test_skipping_dead_edges_keeps_features_bit_for_bit_and_block_gradients(arch):
    """AZ-NAS turns a changed last bit of a feature into a changed score, so the skipped work must be
    exactly zero; block gradients may only differ by the order autograd adds the surviving paths."""
    torch.manual_seed(0)
    fast = NB.build(arch, "ImageNet16-120")
    kaiming_fanin(fast)
    fast.train()
    plain = plain_execution(NB.build(arch, "ImageNet16-120"))
    plain.load_state_dict(fast.state_dict())
    plain.train()
    assert fast.skip_dead_edges and not plain.skip_dead_edges
    x = torch.randn(8, 3, 16, 16)
    feats_fast, feats_plain = fast.block_features(x), plain.block_features(x)
    for i, (a, b) in enumerate(zip(feats_fast, feats_plain)):
        assert torch.equal(a, b), i
        if i:
            probe = torch.randint(0, 2, a.shape, generator=torch.Generator().manual_seed(i)).float() * 2 - 1
            (g_fast,) = torch.autograd.grad(a, feats_fast[i - 1], probe)
            (g_plain,) = torch.autograd.grad(b, feats_plain[i - 1], probe)
            assert torch.allclose(g_fast, g_plain, rtol=1e-6, atol=1e-6 * float(g_plain.abs().max())), i
            assert torch.equal(g_fast == 0, g_plain == 0), i
