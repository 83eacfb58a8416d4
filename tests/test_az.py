"""AZ-NAS: the formulas of RECIPES.md section 2 checked on constructed inputs, then golden values.

The golden values were recorded with `score_cell(nb201, dataset, az, arch, 0, seed=0)` after the
constructed-input checks below and the numpy restatement of expressivity agreed with the code.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zcbench import get_benchmark, get_proxy
from zcbench.aggregate import ranks
from zcbench.inits import kaiming_fanin
import zcbench.proxies._az_execution as az_execution
from zcbench.errors import ZCBenchError
from zcbench.proxies._az_execution import cpu_lanes, rademacher
from zcbench.proxies.az import (_rademacher, az_components, batched_trainability, block_expressivity,
                                laned_components, pair_trainability)
from zcbench.cell import cell_seed, score_cell

from contract import AZ_FEATURE_COMPONENTS, AZ_TOLERANCE, assert_within_contract

NB = get_benchmark("nb201")
AZ = get_proxy("az")
IDX13714 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
IDENTITY = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"  # node3 = node0: every cell is the identity
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def rademacher_like(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, shape, generator=g).double() * 2 - 1


# ---- expressivity -------------------------------------------------------------------------------
def test_expressivity_of_isotropic_features_is_log_c():
    # 4 channels, 4 observations per channel pattern: columns of a scaled Hadamard matrix are orthogonal,
    # centred, with equal variance, so every eigenvalue is equal and the entropy is ln 4.
    h = torch.tensor([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=torch.float64)
    x = h[:, 1:].repeat(8, 1)  # 32 observations x 3 centred orthogonal channels
    feature = x.reshape(2, 4, 4, 3).permute(0, 3, 1, 2)  # (B, C, H, W)
    assert block_expressivity(feature) == pytest.approx(math.log(3), abs=1e-7)


def test_expressivity_of_rank_one_features_is_zero():
    v = torch.randn(64, 1, dtype=torch.float64)
    x = v @ torch.tensor([[1.0, 2.0, -1.0]], dtype=torch.float64)  # all channels proportional
    feature = x.reshape(4, 4, 4, 3).permute(0, 3, 1, 2)
    assert block_expressivity(feature) == pytest.approx(0.0, abs=1e-6)


def test_expressivity_of_an_all_zero_feature_is_nan():
    assert math.isnan(block_expressivity(torch.zeros(2, 8, 4, 4)))


def test_expressivity_matches_a_numpy_restatement_on_a_real_feature():
    torch.manual_seed(0)
    model = NB.build(IDX13714, "ImageNet16-120")
    kaiming_fanin(model)
    model.train()
    feats = model.block_features(torch.randn(64, 3, 16, 16))
    for f in feats:
        x = f.detach().double().permute(0, 2, 3, 1).reshape(-1, f.shape[1]).numpy()
        cov = np.cov(x, rowvar=False, bias=True)
        lam = np.linalg.eigvalsh(cov)
        p = lam / lam.sum()
        expected = float(-(p * np.log(p + 1e-8)).sum())
        assert block_expressivity(f) == pytest.approx(expected, rel=1e-4)


# ---- trainability -------------------------------------------------------------------------------
def _sigma_of(g_in_rows: np.ndarray, g_out_rows: np.ndarray) -> float:
    a = g_in_rows.T @ g_out_rows / g_out_rows.shape[0]
    return float(np.linalg.svd(a, compute_uv=False).max())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_probes_are_the_recipes_randint_probes(dtype):
    """Same values and same generator advance as randint(0, 2) * 2 - 1, one draw after another, across
    Mersenne-Twister refills (624 words) and for the probe shapes of a CIFAR-10 cell."""
    assert az_execution._low_bit_draws_agree(dtype)  # so the uint8 draw is what runs here, not the fallback
    shapes = [(1,), (7,), (623,), (624,), (625,), (3, 5, 7, 11), (64, 16, 32, 32), (64, 64, 8, 8)]
    as_written, fast = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    for shape in shapes:
        want = _rademacher(torch.empty(shape, dtype=dtype), as_written)
        got = rademacher(shape, fast, dtype)
        assert got.dtype == dtype and torch.equal(got, want), shape
        assert set(got.unique().tolist()) <= {-1.0, 1.0}, shape
    assert set(got.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(as_written.get_state(), fast.get_state())


def test_probes_fall_back_to_randint_where_the_low_bit_draw_differs(monkeypatch):
    monkeypatch.setattr(az_execution, "_low_bit_draws_agree", lambda dtype: False)
    as_written, fallback = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    want = _rademacher(torch.empty(5, 700), as_written)
    assert torch.equal(rademacher((5, 700), fallback, torch.float32), want)
    assert torch.equal(as_written.get_state(), fallback.get_state())


def test_trainability_of_a_doubling_block():
    f_in = torch.randn(8, 6, 5, 5, dtype=torch.float64, requires_grad=True)
    f_out = 2.0 * f_in
    gen = torch.Generator().manual_seed(7)
    got = pair_trainability(f_in, f_out, gen)
    g = rademacher_like(f_out.shape, 7).permute(0, 2, 3, 1).reshape(-1, 6).numpy()
    sigma = _sigma_of(2.0 * g, g)
    assert got == pytest.approx(2 - sigma - 1 / (sigma + 1e-6), rel=1e-10)
    assert got < 0


def test_trainability_of_an_identity_block_is_minus_inf():
    f_in = torch.randn(4, 3, 4, 4, requires_grad=True)
    assert pair_trainability(f_in, f_in * 1.0, torch.Generator().manual_seed(0)) == -math.inf
    assert pair_trainability(f_in, f_in + 0.0 * f_in, torch.Generator().manual_seed(0)) == -math.inf


def test_trainability_pixel_unshuffles_a_strided_block():
    f_in = torch.randn(4, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    f_out = F.avg_pool2d(f_in, 2).repeat(1, 2, 1, 1)  # (4, 6, 4, 4): stride 2, channels doubled
    got = pair_trainability(f_in, f_out, torch.Generator().manual_seed(3))
    g_out = rademacher_like(f_out.shape, 3)
    g_in = (g_out[:, :3] + g_out[:, 3:]).repeat_interleave(2, -1).repeat_interleave(2, -2) / 4
    rows_in = F.pixel_unshuffle(g_in, 2).permute(0, 2, 3, 1).reshape(-1, 12).numpy()
    rows_out = g_out.permute(0, 2, 3, 1).reshape(-1, 6).numpy()
    sigma = _sigma_of(rows_in, rows_out)
    assert got == pytest.approx(2 - sigma - 1 / (sigma + 1e-6), rel=1e-10)


def _feature_chain(x: torch.Tensor) -> list[torch.Tensor]:
    """Four blocks: a non-linear one, an identity, a strided one that doubles channels, a residual one."""
    x = x.detach().requires_grad_(True)
    a = torch.tanh(x * 1.5)
    b = a * 1.0
    c = F.avg_pool2d(b, 2).repeat(1, 2, 1, 1)
    return [x, a, b, c, torch.relu(c) + 0.5 * c]


def test_batched_trainability_equals_the_pair_by_pair_path():
    """One host copy and shape-grouped SVDs give the per-pair scores, probes and -inf identity pair included."""
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    features, gen = _feature_chain(x), torch.Generator().manual_seed(5)
    plain = [pair_trainability(features[i - 1], features[i], gen) for i in range(len(features) - 1, 0, -1)]
    batched = batched_trainability(_feature_chain(x), torch.Generator().manual_seed(5))
    assert plain[2] == -math.inf and batched[2] == -math.inf
    assert batched[:2] + batched[3:] == pytest.approx(plain[:2] + plain[3:], rel=1e-12)
    assert all(math.isfinite(v) for v in plain[:2] + plain[3:])


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


LANE_CELLS = [("cifar10", IDX13714), ("ImageNet16-120", IDENTITY), ("ImageNet16-120", ALL_NONE)]


def _components(dataset, arch, threads, lanes, streamed=False):
    """az's three feature-based components of one cell from fixed seeds, at `threads` torch threads."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = NB.build(arch, dataset)
    kaiming_fanin(model)
    model.train()
    size = NB.input_shape(dataset)[-1]
    x = torch.randn(64, 3, size, size, generator=torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(2)
    if streamed:
        return laned_components(model.iter_block_features(x), model.block_shapes(tuple(x.shape)), generator,
                                torch.float32, lanes, x.dtype)
    return az_components(model.block_features(x), generator, torch.float32, True, lanes)


@pytest.mark.contract
@pytest.mark.parametrize("streamed", [False, True], ids=["after_forward", "forward_in_a_lane"])
@pytest.mark.parametrize("dataset, arch", LANE_CELLS)
def test_lanes_equal_the_sequential_path_at_their_thread_count_bit_for_bit(two_threads, dataset, arch, streamed):
    """Contract (docs/reproducibility.md), bitwise part: two lanes of one torch thread each run every kernel of
    the one-thread sequential path at one thread, so they give its values bit for bit, NaN and -inf included,
    whichever lane ran what (and with the forward streamed into the lanes or run first). This is what makes
    `--threads 2` in one process equal `--workers 2` of one thread each."""
    laned = _components(dataset, arch, 2, 2, streamed)
    assert torch.get_num_threads() == 2  # the lanes hand torch's thread count back
    assert repr(laned) == repr(_components(dataset, arch, 1, 1))


@pytest.mark.contract
@pytest.mark.parametrize("dataset, arch", LANE_CELLS)
def test_lanes_agree_with_the_sequential_path_at_all_threads_within_the_contract(two_threads, dataset, arch):
    """Contract, tolerance part: against the sequential path at two threads, whose kernels may split their sums
    differently (on Intel Xeons with MKL they do: 54.87435173 against 54.87435269 on the CIFAR-10 cell), the
    lanes agree within the thread-count bounds; NaN and -inf stay where the recipe puts them."""
    laned, sequential = _components(dataset, arch, 2, 2, True), _components(dataset, arch, 2, 1)
    assert_within_contract(dict(zip(AZ_FEATURE_COMPONENTS, laned)), dict(zip(AZ_FEATURE_COMPONENTS, sequential)),
                           AZ_TOLERANCE)


def test_a_model_that_misannounces_its_shapes_stops_with_a_clear_error(two_threads):
    torch.manual_seed(0)
    model = NB.build(IDX13714, "ImageNet16-120").train()
    x = torch.randn(4, 3, 16, 16)
    shapes = model.block_shapes(tuple(x.shape))
    for wrong in ([shapes[0]] * len(shapes), shapes[:-1]):
        with pytest.raises(ZCBenchError, match="announced"):
            laned_components(model.iter_block_features(x), wrong, torch.Generator().manual_seed(0), torch.float32,
                             2, x.dtype)
    assert torch.get_num_threads() == 2


def test_a_failing_lane_raises_and_gives_the_threads_back(two_threads):
    detached = [torch.randn(2, 3, 4, 4) for _ in range(3)]  # not attached to a graph: the VJP fails
    with pytest.raises(RuntimeError, match="does not require grad"):
        az_components(detached, torch.Generator().manual_seed(0), torch.float32, True, 2)
    assert torch.get_num_threads() == 2


def test_az_uses_lanes_only_with_two_threads_or_more(two_threads):
    assert cpu_lanes() == (2 if torch.backends.openmp.is_available() else 1)
    torch.set_num_threads(1)
    assert cpu_lanes() == 1


# ---- the whole proxy on NB-201 cells --------------------------------------------------------------
GOLDEN = {
    ("cifar10", IDX13714): (54.722179651260376, -0.13800644874572754, -0.07498400453232913, 153.27297),
    ("ImageNet16-120", IDX13714): (54.224403858184814, -0.17607402801513672, -0.1185939282033434, 38.32588),
    ("ImageNet16-120", IDENTITY): (56.07227039337158, 0.0, -math.inf, 1.9534),
    ("ImageNet16-120", ALL_NONE): (math.nan, math.nan, -882351.2088970919, 1.9534),
}


@pytest.mark.contract
@pytest.mark.parametrize("dataset, arch", list(GOLDEN))
def test_az_golden_values(dataset, arch):
    """Recorded on an AMD EPYC (AVX-512 kernels, one thread); on any other CPU, kernel path or thread count the
    contract allows the cross-machine bounds. The NaN of the all-`none` cell (all-zero features, 0/0) and the
    -inf of the identity cell (an exact identity block) are the recipe's, not round-off, so they hold exactly."""
    result = score_cell(NB, dataset, AZ, arch, 0, seed=0)
    assert result.ok, result.error
    want = dict(zip(AZ.spec.components, GOLDEN[(dataset, arch)]))
    assert result.values["complexity"] == pytest.approx(want["complexity"], rel=1e-6)  # analytic FLOPs
    assert_within_contract(result.values, want, AZ_TOLERANCE)


def test_identity_cell_gives_minus_inf_and_all_zero_cell_ranks_lowest():
    identity = score_cell(NB, "ImageNet16-120", AZ, IDENTITY, 0).values
    zero = score_cell(NB, "ImageNet16-120", AZ, ALL_NONE, 0).values
    normal = score_cell(NB, "ImageNet16-120", AZ, IDX13714, 0).values
    assert identity["trainability"] == -math.inf
    assert math.isnan(zero["expressivity"])
    r = ranks(np.array([normal["expressivity"], zero["expressivity"], identity["expressivity"]]))
    assert r[1] == 1.0  # NaN -> -inf -> lowest rank


def test_az_is_deterministic_and_repeats_differ():
    a = score_cell(NB, "ImageNet16-120", AZ, IDX13714, 0, seed=0).values
    b = score_cell(NB, "ImageNet16-120", AZ, IDX13714, 0, seed=0).values
    c = score_cell(NB, "ImageNet16-120", AZ, IDX13714, 1, seed=0).values
    assert a == b
    assert a["expressivity"] != c["expressivity"]
    assert a["complexity"] == c["complexity"]


def test_cell_seed_depends_on_every_part():
    base = cell_seed(0, "nb201", "cifar10", IDX13714, 0)
    assert base == cell_seed(0, "nb201", "cifar10", IDX13714, 0)
    others = [cell_seed(1, "nb201", "cifar10", IDX13714, 0), cell_seed(0, "fake", "cifar10", IDX13714, 0),
              cell_seed(0, "nb201", "cifar100", IDX13714, 0), cell_seed(0, "nb201", "cifar10", ALL_NONE, 0),
              cell_seed(0, "nb201", "cifar10", IDX13714, 1)]
    assert base not in others and len(set(others)) == 5


def test_float64_spectra_resolve_the_round_off_nan_of_float32():
    """A feature of huge variance has a covariance whose smallest eigenvalue is zero up to float32 round-off,
    so its sign, and whether the entropy is NaN, is round-off too (docs/reproducibility.md: it may flip
    between machines). Asserted here: that mechanism, and that float64 spectra give a finite entropy that a
    finite float32 one agrees with; not which way float32 falls on this machine."""
    exploding = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    plain = score_cell(NB, "ImageNet16-120", AZ, exploding, 0).values
    wide = score_cell(NB, "ImageNet16-120", AZ, exploding, 0, options={"spectral_dtype": "float64"}).values
    assert math.isfinite(wide["expressivity"]) and wide["expressivity"] > 0
    assert math.isnan(plain["expressivity"]) or plain["expressivity"] == pytest.approx(wide["expressivity"], rel=1e-3)
    assert wide["complexity"] == plain["complexity"]
    torch.manual_seed(0)
    model = NB.build(exploding, "ImageNet16-120")
    kaiming_fanin(model)
    features = model.train().block_features(torch.randn(64, 3, 16, 16, generator=torch.Generator().manual_seed(0)))
    smallest = []
    for f in features[1:]:
        x = f.detach().permute(0, 2, 3, 1).reshape(-1, f.shape[1])
        x = x - x.mean(0)
        eig = torch.linalg.eigvalsh(x.T @ x / x.shape[0])
        smallest.append(float(eig.min() / eig.max()))
    assert min(abs(r) for r in smallest) < 1e-5  # float32 resolves eigenvalues to about 1e-7 of the largest
    normal64 = score_cell(NB, "ImageNet16-120", AZ, IDX13714, 0, options={"spectral_dtype": "float64"}).values
    assert normal64["expressivity"] == pytest.approx(GOLDEN[("ImageNet16-120", IDX13714)][0], rel=1e-4)


def test_unknown_spectral_dtype_stops_the_run():
    from zcbench import ZCBenchError

    with pytest.raises(ZCBenchError, match="spectral_dtype"):
        score_cell(NB, "ImageNet16-120", AZ, IDX13714, 0, options={"spectral_dtype": "float16"})
