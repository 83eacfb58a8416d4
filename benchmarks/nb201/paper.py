"""The AZ-NAS paper's published numbers on NAS-Bench-201 (CVPR 2024, Tables 1, 4 and 5, Figs. 3-7), to
show beside measured ones.

All are whole-space results (15625 architectures) against seed-averaged 200-epoch test accuracy; runtimes
are ms/arch on one GPU. The formats are those the recipes in `zcbench.figures` document.
"""

from __future__ import annotations

from zcbench.benchmark import PaperReference

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def _by_dataset(values: tuple) -> dict[str, float]:
    return dict(zip(DATASETS, values))


# Table 1: proxy -> dataset -> (Kendall tau, Spearman rho, top-1 mean, top-1 std)
TABLE1 = {
    "params": {"cifar10": (0.578, 0.753, 93.50, 0.17), "cifar100": (0.552, 0.728, 70.63, 0.29),
               "ImageNet16-120": (0.520, 0.691, 41.91, 0.70)},
    "flops": {"cifar10": (0.578, 0.753, 93.50, 0.17), "cifar100": (0.551, 0.727, 70.63, 0.29),
              "ImageNet16-120": (0.517, 0.691, 41.91, 0.70)},
    "grad_norm": {"cifar10": (0.357, 0.484, 90.13, 1.00), "cifar100": (0.350, 0.475, 62.95, 1.38),
                  "ImageNet16-120": (0.304, 0.412, 24.77, 4.67)},
    "grasp": {"cifar10": (0.318, 0.460, 89.49, 1.63), "cifar100": (0.315, 0.453, 61.72, 2.97),
              "ImageNet16-120": (0.282, 0.406, 27.26, 4.92)},
    "snip": {"cifar10": (0.454, 0.615, 90.32, 1.39), "cifar100": (0.451, 0.609, 63.44, 2.52),
             "ImageNet16-120": (0.400, 0.539, 28.77, 5.74)},
    "synflow": {"cifar10": (0.571, 0.769, 93.06, 0.83), "cifar100": (0.565, 0.761, 69.24, 2.07),
                "ImageNet16-120": (0.555, 0.747, 40.51, 5.70)},
    "naswot": {"cifar10": (0.557, 0.743, 92.67, 0.24), "cifar100": (0.579, 0.769, 69.91, 0.27),
               "ImageNet16-120": (0.573, 0.760, 44.45, 0.83)},
    "tenas": {"cifar10": (0.536, 0.731, 92.30, 0.33), "cifar100": (0.535, 0.728, 67.87, 1.05),
              "ImageNet16-120": (0.492, 0.680, 40.49, 2.16)},
    "zen": {"cifar10": (0.296, 0.385, 90.30, 0.36), "cifar100": (0.283, 0.361, 67.70, 1.00),
            "ImageNet16-120": (0.303, 0.409, 39.55, 1.27)},
    "gradsign": {"cifar10": (0.618, 0.809, 93.52, 0.19), "cifar100": (0.594, 0.784, 70.57, 0.31),
                 "ImageNet16-120": (0.575, 0.765, 41.89, 0.69)},
    "zico": {"cifar10": (0.589, 0.784, 93.50, 0.18), "cifar100": (0.590, 0.785, 70.62, 0.26),
             "ImageNet16-120": (0.584, 0.778, 42.04, 0.82)},
    "az": {"cifar10": (0.741, 0.913, 93.53, 0.15), "cifar100": (0.723, 0.900, 70.75, 0.48),
           "ImageNet16-120": (0.710, 0.886, 45.43, 0.29)},
}
TABLE1_RUNTIME_MS = {"grad_norm": 28.8, "grasp": 395.9, "snip": 326.5, "synflow": 53.4, "naswot": 36.9,
                     "tenas": 1311.8, "zen": 19.9, "gradsign": 1823.9, "zico": 372.8, "az": 42.7}
#: Table 1 "Ground truth": the best accuracy in each 3000-architecture pool, mean and std over 5 runs
TABLE1_ORACLE = {"cifar10": (94.29, 0.13), "cifar100": (73.25, 0.26), "ImageNet16-120": (47.05, 0.30)}

# Table 4 (rows 1-14 in the paper's order): (components, aggregation) -> dataset -> tau
TABLE4 = {key: _by_dataset(taus) for key, taus in {
    (("expressivity",), "-"): (0.569, 0.563, 0.506),
    (("progressivity",), "-"): (0.521, 0.508, 0.489),
    (("trainability",), "-"): (0.349, 0.353, 0.407),
    (("complexity",), "-"): (0.578, 0.551, 0.517),
    (("expressivity", "progressivity"), "nonlinear"): (0.601, 0.590, 0.547),
    (("expressivity", "trainability"), "nonlinear"): (0.635, 0.631, 0.639),
    (("expressivity", "complexity"), "nonlinear"): (0.674, 0.653, 0.601),
    (("trainability", "complexity"), "nonlinear"): (0.629, 0.615, 0.644),
    (("expressivity", "progressivity", "trainability"), "nonlinear"): (0.679, 0.673, 0.669),
    (("expressivity", "progressivity", "complexity"), "nonlinear"): (0.683, 0.661, 0.616),
    (("expressivity", "trainability", "complexity"), "nonlinear"): (0.731, 0.714, 0.708),
    (("expressivity", "trainability", "complexity"), "linear"): (0.706, 0.692, 0.678),
    (("expressivity", "progressivity", "trainability", "complexity"), "nonlinear"): (0.741, 0.723, 0.710),
    (("expressivity", "progressivity", "trainability", "complexity"), "linear"): (0.697, 0.681, 0.663),
}.items()}

# Table 5: (base proxy or None, AZ components added, in the order s^C, s^E, s^T, s^P) ->
# (dataset -> tau, runtime ms/arch or None)
_C, _E, _T, _P = "complexity", "expressivity", "trainability", "progressivity"
TABLE5 = {key: (_by_dataset(taus), ms) for key, (taus, ms) in {
    (None, (_C,)): ((0.578, 0.551, 0.517), None),
    (None, (_C, _E)): ((0.674, 0.653, 0.601), 22.3),
    (None, (_C, _E, _T)): ((0.731, 0.714, 0.708), 42.7),
    (None, (_C, _E, _T, _P)): ((0.741, 0.723, 0.710), 42.7),
    ("zico", ()): ((0.589, 0.590, 0.584), 372.8),
    ("zico", (_C,)): ((0.632, 0.615, 0.595), 372.8),
    ("zico", (_C, _E)): ((0.733, 0.717, 0.678), 395.1),
    ("zico", (_C, _E, _T)): ((0.761, 0.749, 0.743), 415.5),
    ("zico", (_C, _E, _T, _P)): ((0.773, 0.757, 0.747), 415.5),
    ("synflow", ()): ((0.571, 0.565, 0.555), 53.4),
    ("synflow", (_C,)): ((0.636, 0.616, 0.594), 53.4),
    ("synflow", (_C, _E)): ((0.741, 0.721, 0.681), 75.7),
    ("synflow", (_C, _E, _T)): ((0.768, 0.753, 0.746), 96.1),
    ("synflow", (_C, _E, _T, _P)): ((0.776, 0.758, 0.747), 96.1),
}.items()}

PAPER = PaperReference(
    source="AZ-NAS (CVPR 2024)",
    datasets={**{fig: ("ImageNet16-120",) for fig in ("fig3", "fig4", "fig5", "fig6", "fig7")},
              **{table: DATASETS for table in ("table1", "table4", "table5")}},
    # the supplement draws Figs. 4 and 5 on 1042 architectures evenly sampled by ImageNet16-120 accuracy
    subsets={"fig4": "stratified1042-in16", "fig5": "stratified1042-in16"},
    values={"table1": {"proxies": TABLE1, "runtime_ms": TABLE1_RUNTIME_MS, "oracle": TABLE1_ORACLE},
            "table4": TABLE4, "table5": TABLE5},
)
