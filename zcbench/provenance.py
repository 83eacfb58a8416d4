"""Where and how numbers were made: the machine, the kernel path and the code behind every run.

Floating-point results depend on the CPU model, the kernel path torch dispatches to (AVX-512, AVX2 or
the portable one, and oneDNN's and MKL's own choices) and the thread count each kernel runs with
(docs/reproducibility.md), so every scoring run records them, and every measurement prints them.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Mapping

import torch

import zcbench

#: Environment variables that select a kernel path or change how the math libraries split their work.
KERNEL_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
              "MKL_CBWR", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "ZCBENCH_MALLOC")


@functools.cache
def cpu_model() -> str:
    """The CPU's model name as the kernel reports it (e.g. `AMD EPYC`, `Intel(R) Xeon(R) Platinum 8480+`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_capability() -> str:
    """The vectorised kernel path torch dispatches to on this CPU (`AVX512`, `AVX2`, `DEFAULT`, ...)."""
    return torch.backends.cpu.get_cpu_capability()


def kernel_env() -> dict[str, str]:
    """The kernel-path and threading variables set in this process (only those that are set)."""
    return {name: os.environ[name] for name in KERNEL_ENV if name in os.environ}


def cpu_label() -> str:
    """One line for reports: the CPU model and torch's kernel path, e.g. `AMD EPYC, AVX512`."""
    extra = "".join(f", {k}={v}" for k, v in kernel_env().items() if k != "ZCBENCH_MALLOC")
    return f"{cpu_model()}, {cpu_capability()}{extra}"


def device_name(device: torch.device | str) -> str:
    """`cpu` or the accelerator's name with its index, e.g. `NVIDIA H200 (cuda:0)`."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({device})"
    return device.type


@functools.cache
def code_version() -> str:
    """zcbench's version with the git commit it runs from, `+dirty` when tracked files differ from it."""
    folder = Path(zcbench.__file__).parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--"], cwd=folder, capture_output=True,
                               timeout=10).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return zcbench.__version__
    return f"{zcbench.__version__}+g{commit}{'.dirty' if dirty else ''}"


def machine(device: torch.device | str) -> dict[str, Any]:
    """What computed a cell: host, CPU, kernel path, device, torch and the threads its kernels had."""
    return {"host": platform.node(), "cpu": cpu_model(), "cpu_capability": cpu_capability(),
            "kernel_env": kernel_env(), "device": device_name(device), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_run(device: torch.device | str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The provenance record of a run that starts now, in this process (the driver).

    `settings` are the run's own choices (threads, workers, backend, seed, options, data, ...). `machines`
    collects what actually computed its cells (workers may sit on other hosts); `ended` stays None
    for a run that was killed.
    """
    return {"id": uuid.uuid4().hex, "started": now(), "ended": None, "status": "running",
            "code_version": code_version(), "python": platform.python_version(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "",
            **machine(device), **settings, "machines": []}
