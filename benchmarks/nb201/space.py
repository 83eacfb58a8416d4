"""NAS-Bench-201 cell encoding: canonical strings, validation and the zcbench enumeration order.

Enumeration order (zcbench's own, documented and fixed): the six edges in string order
(1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) read as a base-5 number, the first edge most significant, with
operations numbered as in `OPS`. It is NOT the official NAS-Bench-201 index order; that order is only
known from the benchmark files and is stored as `arch/index` after a ground-truth import.
"""

from __future__ import annotations

from zcbench.errors import ZCBenchError

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to_node, from_node), string order
NUM_ARCHS = len(OPS) ** len(EDGES)
_OP_INDEX = {op: i for i, op in enumerate(OPS)}


def to_string(ops: tuple[str, ...]) -> str:
    """Canonical string of six edge operations given in EDGES order."""
    nodes = []
    k = 0
    for node in (1, 2, 3):
        parts = []
        for src in range(node):
            parts.append(f"{ops[k]}~{src}")
            k += 1
        nodes.append("|" + "|".join(parts) + "|")
    return "+".join(nodes)


def parse(arch: str) -> tuple[str, ...]:
    """Edge operations of an architecture string, in EDGES order; says which edge is wrong."""
    if not isinstance(arch, str) or not arch.strip():
        raise ZCBenchError("empty architecture string")
    text = arch.strip()
    nodes = text.split("+")
    if len(nodes) != 3:
        raise ZCBenchError(
            f"malformed architecture {text!r}: expected 3 nodes separated by '+', found {len(nodes)}"
        )
    ops: list[str] = []
    for node, node_text in enumerate(nodes, start=1):
        if not (node_text.startswith("|") and node_text.endswith("|")) or len(node_text) < 2:
            raise ZCBenchError(f"malformed architecture {text!r}: node {node} must look like |op~0|...|")
        edges = node_text[1:-1].split("|")
        if len(edges) != node:
            raise ZCBenchError(
                f"malformed architecture {text!r}: node {node} needs {node} incoming edges, found {len(edges)}"
            )
        for src, edge in enumerate(edges):
            name = f"edge {node}<-{src}"
            op, sep, idx = edge.partition("~")
            if not sep:
                raise ZCBenchError(f"malformed architecture {text!r}: {name} is {edge!r}, expected 'op~{src}'")
            if op not in _OP_INDEX:
                raise ZCBenchError(
                    f"malformed architecture {text!r}: {name} has unknown operation {op!r}; "
                    f"known: {', '.join(OPS)}"
                )
            if idx != str(src):
                raise ZCBenchError(
                    f"malformed architecture {text!r}: {name} reads from node {idx!r}, expected {src}"
                )
            ops.append(op)
    return tuple(ops)


def index_of(ops: tuple[str, ...]) -> int:
    value = 0
    for op in ops:
        value = value * len(OPS) + _OP_INDEX[op]
    return value


def ops_of(index: int) -> tuple[str, ...]:
    if not 0 <= index < NUM_ARCHS:
        raise ZCBenchError(f"NB-201 index {index} out of range [0, {NUM_ARCHS})")
    digits = []
    for _ in EDGES:
        index, d = divmod(index, len(OPS))
        digits.append(OPS[d])
    return tuple(reversed(digits))
