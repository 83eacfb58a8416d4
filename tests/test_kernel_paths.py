"""The contract tests once more under every other CPU kernel path this torch build offers on this CPU.

A claim that holds on one kernel path only (one machine's round-off) would pass a suite that runs on one
path; here the tests marked `contract` run again in a subprocess with `ATEN_CPU_CAPABILITY` set to each
other path torch offers (DEFAULT, AVX2, AVX512), and with oneDNN's convolutions held to AVX2 where they
would use AVX-512. Golden values recorded on one machine must then hold within the contract's
cross-machine bounds, and the bitwise claims must hold on every path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
CAPABILITIES = ("default", "avx2", "avx512")


def _capability_under(env: dict[str, str]) -> str:
    probe = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    done = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.strip()


def other_kernel_paths() -> list[dict[str, str]]:
    """Environments that select a kernel path other than this process's (torch falls back to the best path
    the CPU has when asked for one it lacks, so a path is offered only if the probe reports it)."""
    current = torch.backends.cpu.get_cpu_capability()
    paths = [{"ATEN_CPU_CAPABILITY": cap} for cap in CAPABILITIES
             if cap.upper() != current and _capability_under({"ATEN_CPU_CAPABILITY": cap}) == cap.upper()]
    if current == "AVX512" and "ONEDNN_MAX_CPU_ISA" not in os.environ:
        paths.append({"ONEDNN_MAX_CPU_ISA": "AVX2"})  # oneDNN picks its convolution kernels on its own
    return paths


PATHS = other_kernel_paths()


def test_this_cpu_offers_another_kernel_path():
    assert PATHS, "no other kernel path to run the contract tests under"


@pytest.mark.parametrize("env", PATHS, ids=lambda env: ",".join(f"{k}={v}" for k, v in env.items()))
def test_the_contract_holds_under_another_kernel_path(env):
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "contract",
                           "tests"], cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout
