"""Settings shared by every `zcbench` command (kept apart so that command modules need not import the CLI)."""

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEFAULT_STORE = "zcbench-store.h5"


def store_option(help: str = "The HDF5 score store of this study."):
    """`--store PATH`, defaulting to zcbench-store.h5 in the current folder for every verb."""
    return click.option("--store", "store", default=DEFAULT_STORE, show_default=True,
                        type=click.Path(dir_okay=False), help=help)


def bench_option(command):
    """`--bench NAME`, defaulting to the benchmark of the AZ-NAS paper's main tables."""
    return click.option("--bench", default="nb201", show_default=True,
                        help="Benchmark (search space); see `zcbench list`.")(command)
