"""The faster CPU kernels of zcbench.ops must repeat torch's arithmetic bit for bit, gradients included."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zcbench import get_benchmark, get_proxy
from zcbench import ops
from zcbench.ops import SamePadAvgPool2d, plain_execution
from zcbench.cell import score_model

NB = get_benchmark("nb201")
# Bit-for-bit claims about kernels: they must hold on every kernel path, so they run under each
# (tests/test_kernel_paths.py).
pytestmark = pytest.mark.contract


@pytest.fixture(autouse=True, params=["shifted_sums", "channels_last"])
def fast_path(request, monkeypatch):
    """Each equality test runs once per fast path, forced at every size (small inputs normally go to torch's
    own kernel, and the plane size picks the path)."""
    monkeypatch.setattr(ops, "SMALL_INPUT", 0)
    monkeypatch.setattr(ops, "LARGE_PLANE", 0 if request.param == "shifted_sums" else 10**9)
    return request.param

POOL_HEAVY = [
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|avg_pool_3x3~2|",
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|",
]


@pytest.mark.parametrize("shape", [(4, 3, 9, 7), (2, 16, 32, 32), (3, 8, 1, 5), (5, 64, 8, 8), (2, 3, 2, 2)])
@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pool_equals_torch_bit_for_bit_forward_and_backward(shape, kernel, dtype):
    torch.manual_seed(0)
    x = (torch.randn(shape, dtype=dtype) * 1e3 + 7).requires_grad_()
    probe = torch.randn(shape, dtype=dtype)
    ours, theirs = SamePadAvgPool2d(kernel), nn.AvgPool2d(kernel, 1, kernel // 2, count_include_pad=False)
    y_ours, y_theirs = ours(x), theirs(x)
    assert torch.equal(y_ours, y_theirs) and y_ours.is_contiguous()
    (g_ours,), (g_theirs,) = torch.autograd.grad(y_ours, x, probe), torch.autograd.grad(y_theirs, x, probe)
    assert torch.equal(g_ours, g_theirs) and g_ours.is_contiguous()  # NCHW gradients: no layout change upstream


def test_pool_supports_double_backward_like_torch():
    """GraSP differentiates a gradient: the backward itself must be differentiable, with torch's values."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64, requires_grad=True)
    results = []
    for pool in (SamePadAvgPool2d(3), nn.AvgPool2d(3, 1, 1, count_include_pad=False)):
        (g,) = torch.autograd.grad((pool(x) ** 3).sum(), x, create_graph=True)
        results.append(torch.autograd.grad((g * g).sum(), x)[0])
    assert torch.equal(*results)


def test_pool_falls_back_to_torch_off_the_fast_path():
    x = torch.randn(2, 4, 6, 6).contiguous(memory_format=torch.channels_last)
    expected = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    assert torch.equal(SamePadAvgPool2d(3)(x), expected)


def test_the_input_size_picks_the_kernel(monkeypatch):
    """torch's loop wins on one 8x8 sample (per-sample loops), its channels-last kernel on batches of planes
    up to 16x16, the shifted sums on 32x32 planes."""
    monkeypatch.setattr(ops, "SMALL_INPUT", 8192)
    monkeypatch.setattr(ops, "LARGE_PLANE", 1024)

    def kernel(shape: tuple[int, ...]) -> str:
        return type(SamePadAvgPool2d(3)(torch.randn(shape, requires_grad=True)).grad_fn).__name__

    assert "AvgPool2D" in kernel((1, 64, 8, 8))
    assert "ChannelsLast" in kernel((2, 64, 8, 8)) and "ChannelsLast" in kernel((64, 32, 16, 16))
    assert "ShiftedSum" in kernel((64, 16, 32, 32))


def _with_torch_pools(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    for module in twin.modules():
        for name, child in module.named_children():
            if isinstance(child, SamePadAvgPool2d):
                setattr(module, name, nn.AvgPool2d(3, 1, 1, count_include_pad=False))
    return twin


@pytest.mark.parametrize("proxy", ["az", "grasp", "naswot", "synflow", "zico"])
@pytest.mark.parametrize("arch", POOL_HEAVY)
def test_nb201_scores_do_not_change_with_the_fast_pool(proxy, arch):
    torch.manual_seed(0)
    model = NB.build(arch, "ImageNet16-120")
    twin = _with_torch_pools(model)
    assert any(isinstance(m, nn.AvgPool2d) and not isinstance(m, SamePadAvgPool2d) for m in twin.modules())
    kwargs = dict(dataset="ImageNet16-120", num_classes=120, input_shape=(3, 16, 16), seed=3, batch_size=8)
    ours, theirs = score_model(get_proxy(proxy), model, **kwargs), score_model(get_proxy(proxy), twin, **kwargs)
    np.testing.assert_equal(ours, theirs)  # exact, with NaN equal to NaN


def test_plain_execution_swaps_in_stock_modules_with_equal_outputs():
    torch.manual_seed(0)
    fast = NB.build(POOL_HEAVY[0], "ImageNet16-120")
    plain = plain_execution(copy.deepcopy(fast))
    kinds = [type(m) for m in plain.modules()]
    assert SamePadAvgPool2d not in kinds and nn.AvgPool2d in kinds
    assert any(isinstance(m, SamePadAvgPool2d) for m in fast.modules())
    x = torch.randn(4, 3, 16, 16)
    assert torch.equal(fast.train().logits(x), plain.train().logits(x))
