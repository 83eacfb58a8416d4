"""How the AZ-NAS paper names and orders proxies and components, for figures and tables.

The paper's numbers live with the benchmark they were measured on (`Benchmark.paper`).
"""

from __future__ import annotations

#: Table 1 row order and names (store proxy name -> the paper's name)
NAMES = {
    "params": "#Params", "flops": "FLOPs", "grad_norm": "GradNorm", "grasp": "GraSP", "snip": "Snip",
    "synflow": "Synflow", "naswot": "NASWOT", "tenas": "TE-NAS", "zen": "ZenNAS", "gradsign": "GradSign",
    "zico": "ZiCo", "az": "AZ-NAS",
}

#: AZ-NAS component -> the paper's symbol letter (s^E, s^P, s^T, s^C)
AZ_SYMBOLS = {"expressivity": "E", "progressivity": "P", "trainability": "T", "complexity": "C"}
AZ_COMPONENTS = tuple(AZ_SYMBOLS)
