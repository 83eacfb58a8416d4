"""Published numbers on NDS, to show beside measured ones (the CIFAR-10 files, all entries of each).

AZ-NAS (CVPR 2024) supplement Table 6: Kendall tau on every entry of a space's file and the test accuracy
of the architecture each proxy selects from 1000 sampled entries, mean ± std over 5 runs. NASWOT (Mellor
et al., ICML 2021, Fig. 3) gives its own tau on five spaces.
"""

from __future__ import annotations

from zcbench.benchmark import PaperReference

# space -> proxy -> (Kendall tau, top-1 mean, top-1 std)
TABLE6 = {
    "ENAS": {"params": (0.411, 92.94, 1.26), "flops": (0.409, 92.94, 1.26), "synflow": (0.116, 67.90, 28.9),
             "naswot": (0.375, 93.56, 1.55), "zico": (0.200, 92.19, 1.15), "az": (0.495, 94.41, 0.13)},
    "Amoeba": {"params": (0.241, 76.77, 37.3), "flops": (0.239, 76.77, 37.3), "synflow": (-0.076, 87.70, 8.29),
               "naswot": (0.192, 92.89, 0.29), "zico": (-0.016, 92.25, 0.60), "az": (0.386, 93.75, 0.24)},
    "NASNet": {"params": (0.289, 92.56, 1.10), "flops": (0.276, 92.56, 1.10), "synflow": (0.007, 79.98, 25.0),
               "naswot": (0.286, 93.55, 0.93), "zico": (0.089, 92.72, 0.88), "az": (0.426, 93.72, 0.50)},
}
NASWOT_TAU = {"DARTS": 0.467, "ENAS": 0.365, "Amoeba": 0.223, "NASNet": 0.304, "PNAS": 0.382}


def paper_for(space: str, stem: str) -> PaperReference | None:
    """The reference of one file: only the plain CIFAR-10 file of a space is what the papers measured."""
    if stem != space or (space not in TABLE6 and space not in NASWOT_TAU):
        return None
    values = {"table6": {"space": space, "proxies": TABLE6.get(space, {}),
                         "naswot_paper_tau": NASWOT_TAU.get(space)}}
    return PaperReference(source="AZ-NAS (CVPR 2024) supplement Table 6; NASWOT (ICML 2021) Fig. 3",
                          datasets={"table6": ("cifar10",)}, values=values)
