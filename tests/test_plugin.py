"""A proxy and a figure from a separate package, registered through the `zcbench.proxies` and `zcbench.figures`
entry-point groups, listed with their origin."""

import os
import subprocess
import sys
import textwrap

PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "zcbench-toy-proxy"
version = "0.1"

[project.entry-points."zcbench.proxies"]
toy = "zcbench_toy_proxy"

[project.entry-points."zcbench.figures"]
toy_table = "zcbench_toy_proxy.figure"
"""

FIGURE = '''
"""A third-party table: how many architectures each proxy scored."""
from zcbench.figures.common import Built, Recipe
from zcbench.registry import register_figure


def build(ctx, datasets):
    return Built()


RECIPE = register_figure(Recipe("toy_table", "architectures scored per proxy", build))
'''

MODULE = '''
"""A third-party proxy: mean logit of a Gaussian batch."""
from zcbench import register_proxy


@register_proxy(name="toy", components=("mean_logit",), needs=("gaussian",), init="default")
def toy(ctx):
    return {"mean_logit": float(ctx.model.logits(ctx.inputs["gaussian"]).mean())}
'''


def test_entry_point_proxy_is_listed_and_scored(tmp_path):
    src = tmp_path / "plugin"
    (src / "zcbench_toy_proxy").mkdir(parents=True)
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "zcbench_toy_proxy" / "__init__.py").write_text(MODULE)
    (src / "zcbench_toy_proxy" / "figure.py").write_text(FIGURE)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(src)],
        check=True, capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    exe = [sys.executable, "-m", "zcbench.cli"]
    listed = subprocess.run([*exe, "list"], env=env, capture_output=True, text=True, check=True)
    assert "toy" in listed.stdout and "mean_logit" in listed.stdout
    toy_line = next(line for line in listed.stdout.splitlines() if line.split()[:1] == ["toy"])
    assert toy_line.endswith("plugin zcbench-toy-proxy"), toy_line
    table_line = next(line for line in listed.stdout.splitlines() if line.split()[:1] == ["toy_table"])
    assert table_line.endswith("plugin zcbench-toy-proxy"), table_line
    assert "fig3" in listed.stdout and "built in" in listed.stdout
    store = tmp_path / "s.h5"
    scored = subprocess.run(
        [*exe, "score", "--bench", "fake", "--dataset", "synthetic", "--proxy", "toy", "--limit", "4",
         "--store", str(store), "--quiet", "--threads", "1"],
        env=env, capture_output=True, text=True,
    )
    assert scored.returncode == 0, scored.stderr
    check = textwrap.dedent(f"""
        from zcbench.store import Store, OK
        entry = Store({str(store)!r}).read("fake", "synthetic").entries["toy"]
        assert (entry.status == OK).sum() == 4, entry.status
        print(entry.spec["name"], entry.arrays["mean_logit"][:, 0].tolist())
    """)
    out = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("toy ")
    # without the plug-in on the path, zcbench does not know the proxy
    plain = subprocess.run([*exe, "list"], capture_output=True, text=True, check=True)
    assert "toy" not in plain.stdout.split("benchmarks:")[0]
