"""zcbench: benchmark zero-cost NAS proxies against ground truth.

The public API: the proxy and benchmark registries, the runner, the score store and evaluation.
"""

from zcbench.errors import ZCBenchError
from zcbench.registry import (
    Proxy,
    ProxyContext,
    ProxySpec,
    get_benchmark,
    get_proxy,
    list_benchmarks,
    list_proxies,
    register_benchmark,
    register_proxy,
)

__version__ = "0.1.0"

__all__ = [
    "Proxy",
    "ProxyContext",
    "ProxySpec",
    "ZCBenchError",
    "get_benchmark",
    "get_proxy",
    "list_benchmarks",
    "list_proxies",
    "register_benchmark",
    "register_proxy",
    "__version__",
]
