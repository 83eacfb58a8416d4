"""The `zcbench` command line: a thin layer over the Python API."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from zcbench.cli_figures import ensemble, figures
from zcbench.clikit import CONTEXT, bench_option, store_option
from zcbench.errors import ZCBenchError

def _benchmark_dataset(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """An omitted --dataset is the benchmark's first (cifar10 for nb201, imagenet for mbv2)."""
    if value is not None or "bench" not in ctx.params or ctx.resilient_parsing:
        return value
    from zcbench.registry import get_benchmark

    return next(iter(get_benchmark(ctx.params["bench"]).datasets))


dataset_option = click.option("--dataset", default=None, callback=_benchmark_dataset,
                              help="Dataset of the benchmark, e.g. cifar10, cifar100, ImageNet16-120 for nb201 "
                                   "(default: the benchmark's first: cifar10 for nb201, imagenet for mbv2).")


def proxy_options(opts: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """`--opt PROXY.KEY=VALUE` values by proxy and key."""
    options: dict[str, dict[str, str]] = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        proxy, dot, name = key.partition(".")
        if not sep or not dot or not proxy or not name:
            raise ZCBenchError(f"--opt {opt!r}: expected PROXY.KEY=VALUE")
        options.setdefault(proxy, {})[name] = value
    return options


def set_threads(threads: int | None) -> None:
    """`--threads N` (None: torch's choice)."""
    if threads is not None:
        if threads < 1:
            raise ZCBenchError(f"--threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="zcbench")
def cli() -> None:
    """Benchmark zero-cost NAS proxies.

    \b
    Typical session:
      zcbench score --bench nb201 --dataset cifar10 --proxy az --archs uniform1000-seed0
      zcbench gt import --bench nb201 --csv ../shared/data/nb201/nats_tss_200ep_test_acc.csv
      zcbench evaluate --bench nb201 --dataset cifar10
      zcbench export --bench nb201 --dataset cifar10 --format csv --out scores.csv
      zcbench figures --store zcbench-store.h5 --out figs
      zcbench search --bench nb201 --dataset cifar10 --iters 500 --population 64
    """


@cli.command(context_settings=CONTEXT)
@bench_option
@dataset_option
@click.option("--proxy", "proxies", multiple=True, required=True,
              help="Proxy to score (repeat the flag for several); see `zcbench list`.")
@click.option("--archs", default=None,
              help="File with one architecture string per line (# comments allowed), or the name of a subset "
                   "shipped with the benchmark (see `zcbench list`). Default: the whole space.")
@click.option("--limit", type=int, default=None, help="Score only the first N architectures of the selection.")
@store_option()
@click.option("--seed", type=int, default=0, show_default=True,
              help="Global seed; each (architecture, repeat) derives its own seed from it.")
@click.option("--repeats", type=int, default=1, show_default=True,
              help="Independent repeats per architecture (different seeds); evaluation averages them.")
@click.option("--batch-size", type=int, default=None, help="Override the proxy's batch size (recorded in its config).")
@click.option("--resolution", type=int, default=None,
              help="Input size instead of the dataset's (e.g. 32 for a CPU-sized run of an ImageNet space; recorded "
                   "in the config, so such scores get their own entry).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--threads", type=int, default=None, help="Torch CPU threads (default: torch's choice).")
@click.option("--opt", "opts", multiple=True, metavar="PROXY.KEY=VALUE",
              help="Set a named proxy option (a recorded deviation from the recipe).")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Folder holding cifar-10-batches-py/, cifar-100-python/, ImageNet16/ for proxies that need real "
                   "batches (default: $ZCBENCH_DATA).")
@click.option("--synthetic-data", is_flag=True,
              help="Run real-batch proxies on Gaussian images with random labels (recorded; shown by evaluate).")
@click.option("--shard", default=None, metavar="I/K",
              help="Score only shard I of K (a deterministic split by architecture); combine with `zcbench merge`.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Local worker processes; each gets threads/workers torch threads. Scores equal a 1-worker run "
                   "at the same threads per worker bit for bit (docs/reproducibility.md).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="ray: dispatch cells to a Ray cluster (this process alone writes the store).")
@click.option("--address", default=None, help="Ray cluster address (default: start a local Ray instance).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def score(bench, dataset, proxies, archs, limit, store, seed, repeats, batch_size, resolution, device, threads, opts,
          data_root,
          synthetic_data, shard, workers, backend, address, quiet):
    """Score architectures with one or more proxies into the store.

    Resumes by default: cells already scored with the same config are skipped, failed ones are retried.
    Scores are journaled as they finish, so a crash or kill loses at most the architectures in flight.

    \b
    Examples:
      zcbench score --bench nb201 --dataset cifar10 --proxy az --limit 20
      zcbench score --proxy az --archs uniform1000-seed0 --dataset ImageNet16-120
      zcbench score --proxy az --archs my_archs.txt --repeats 3 --store study.h5
      zcbench score --proxy snip --data-root ~/data --dataset cifar100 --limit 100
      zcbench score --proxy az --workers 2                      # a local process pool
      zcbench score --proxy az --shard 0/4 --store part0.h5     # then: zcbench merge part*.h5 --out all.h5
      zcbench score --proxy az --backend ray --address auto     # a Ray cluster
    """
    from zcbench.registry import get_benchmark
    from zcbench.runner import parse_shard, run_scoring

    set_threads(threads)
    benchmark = get_benchmark(bench)
    benchmark.dataset(dataset)
    view = None
    if archs is None and not benchmark.enumerable:  # the space is the entries imported from its file
        from zcbench.groundtruth import space_view

        view = space_view(store, benchmark, dataset)
    selected = benchmark.resolve_archs(archs, limit, view)
    options = proxy_options(opts)
    summary = run_scoring(store, bench, dataset, list(proxies), selected, seed=seed, repeats=repeats,
                          batch_size=batch_size, device=device, options=options, data_root=data_root,
                          synthetic_data=synthetic_data, shard=parse_shard(shard) if shard else None,
                          workers=workers, backend=backend, address=address, progress=not quiet,
                          resolution=resolution)
    click.echo(summary.render())


@cli.command(context_settings=CONTEXT)
@store_option()
@bench_option
@dataset_option
@click.option("--gt", "gt_path", type=click.Path(), default=None,
              help="Ground-truth file or folder to use instead of the store's (same formats as `gt import`).")
@click.option("--target", default=None, help="Ground-truth target (default: the benchmark's, test_accuracy).")
@click.option("--archs", default=None,
              help="Evaluate on these architectures only (file or shipped subset, e.g. uniform1000-seed0).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def evaluate(store, bench, dataset, gt_path, target, archs, as_json):
    """Kendall tau-b and Spearman rho of every stored proxy and component against ground truth.

    Multi-component proxies (AZ-NAS) are also ranked by the non-linear (sum of ln rank/m) and the linear
    (sum of ranks) aggregation of their components. NaN scores rank lowest (NaN -> -inf).
    """
    from zcbench.evaluate import evaluate_store, render

    result = evaluate_store(store, bench, dataset, gt_path=gt_path, target=target, archs=archs)
    click.echo(json.dumps(result.to_dict(), indent=2) if as_json else render(result))


@cli.command(context_settings=CONTEXT)
@store_option()
@bench_option
@dataset_option
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output file (refused if it exists "
              "and --force is not given).")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def export(store, bench, dataset, fmt, out, force):
    """Write one row per scored architecture: raw component values, time, ground truth."""
    from zcbench.export import export_table, write_table

    if Path(out).exists() and not force:
        raise ZCBenchError(f"{out} exists; pass --force to overwrite it")
    table = export_table(store, bench, dataset)
    write_table(table, out, fmt)
    click.echo(f"wrote {table.num_rows} architectures x {table.num_columns} columns to {out}")


@cli.command(context_settings=CONTEXT)
@bench_option
@dataset_option
@click.option("--proxy", default=None, help="A proxy with a registered reference restatement (e.g. gradsign).")
@click.option("--archs", default=None, help="Architecture file or shipped subset (as for `score`).")
@click.option("--limit", type=int, default=20, show_default=True,
              help="Number of architectures to time, evenly spaced over the selection.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default=None,
              help="Run both in this dtype instead of the proxy's (float64 shows exact agreement).")
@click.option("--threads", type=int, default=None, help="Torch CPU threads for both (default: torch's choice).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (both run there).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="As for `score`.")
@click.option("--synthetic-data", is_flag=True, help="As for `score`.")
@click.option("--search", "search_ranking", is_flag=True,
              help="Time Algorithm 1's incremental ranking against the official re-ranking of the whole history "
                   "(synthetic scores; no proxy runs).")
@click.option("--iters", type=int, default=20000, show_default=True, help="With --search: steps to time.")
@click.option("--population", type=int, default=1024, show_default=True,
              help="With --search: K (parents from the top K-1).")
@click.option("--at", "start", type=int, default=0, show_default=True,
              help="With --search: begin with a history of this size, to time steps at a large t (e.g. --at "
                   "100000 --iters 200).")
@click.option("--json", "as_json", is_flag=True, help="With --search: print one JSON object.")
def bench(bench, dataset, proxy, archs, limit, dtype, threads, device, seed, data_root, synthetic_data,
          search_ranking, iters, population, start, as_json):
    """Time a proxy against its plain reference restatement, side by side on the same architectures.

    Both get the same seeds, inputs and threads and alternate per architecture; the report gives both
    medians, their ratio, the largest relative difference of the values and, for scale, one training
    step of the same model. The reference runs the recipe as written on the network as written (stock
    torch modules, every edge computed).

    With --search, time the search's incremental ranking against the official recomputation instead:
    both run side by side on the same synthetic scores (with ties, NaN and -inf), and the report says
    whether every parent choice, every score and the final argmax were identical.

    \b
    Example:
      zcbench bench --proxy gradsign --archs uniform1000-seed0 --limit 20 --data-root ../shared/data/real
      zcbench bench --proxy gradsign --data-root ../shared/data/real --dtype float64   # exact agreement
      zcbench bench --proxy az --archs uniform1000-seed0 --device cuda                 # both on a GPU
      zcbench bench --search --iters 20000                                             # the search's ranking
      zcbench bench --search --at 100000 --iters 200 --json                            # steps at t = 1e5
    """
    set_threads(threads)
    if search_ranking:
        from zcbench.search import bench_ranking

        if iters < 1 or population < 2 or start < 0:
            raise ZCBenchError("--search needs --iters >= 1, --population >= 2 and --at >= 0")
        result = bench_ranking(iters, population, seed=seed, start=start, progress=not as_json)
        click.echo(json.dumps(result.as_dict()) if as_json else result.render())
        return
    if proxy is None:
        raise ZCBenchError("name the --proxy to time (or --search to time the search's ranking)")

    from zcbench.bench import run_bench
    from zcbench.registry import get_benchmark

    if limit < 1:
        raise ZCBenchError(f"--limit must be at least 1, got {limit}")
    pool = get_benchmark(bench).resolve_archs(archs)
    step = max(1, len(pool) // limit)  # evenly spaced over the selection, not its (sorted) head
    selected = [pool[i] for i in range(0, len(pool), step)][:limit]
    result = run_bench(bench, dataset, proxy, list(selected), seed=seed, dtype=dtype, data_root=data_root,
                       synthetic_data=synthetic_data, device=device)
    click.echo(result.render())


@cli.command(context_settings=CONTEXT)
@bench_option
@click.option("--dataset", default=None,
              help="Dataset of the benchmark (default: its first, e.g. cifar10 for nb201, imagenet for mbv2).")
@store_option("The HDF5 score store: every candidate's scores go there (and are read from it when present).")
@click.option("--proxy", "proxies", multiple=True, default=("az",), show_default=True,
              help="Proxy to rank by (repeatable: every component of every proxy enters the aggregate).")
@click.option("--iters", type=int, default=None,
              help="Accepted candidates (Algorithm 1's T; default 100). The search ends when the history holds "
                   "this many; a larger value extends a finished search.")
@click.option("--random", "random_count", type=int, default=None, metavar="N",
              help="Budgeted random search instead of Algorithm 1: N candidates inside the budget, ranked together.")
@click.option("--population", type=int, default=64, show_default=True,
              help="Algorithm 1's K: parents from the top K-1 of the history (the paper: 1024).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds Python's random (mutation) and NumPy (parent choice), and the scores' cell seeds.")
@click.option("--budget-flops", default=None, metavar="COUNT", help="Largest analytic FLOPs, e.g. 450M.")
@click.option("--max-layers", type=int, default=None, help="Most layers (mbv2: the sum of L over all blocks).")
@click.option("--min-params", default=None, metavar="COUNT", help="Fewest parameters, e.g. 4M.")
@click.option("--max-params", default=None, metavar="COUNT", help="Most parameters, e.g. 6M.")
@click.option("--mutation", default=None, help="Mutation operator where the space has several (mbv2: official, "
                                                 "uniform).")
@click.option("--batch-size", type=int, default=None, help="Override the proxy's batch size (recorded in its config).")
@click.option("--resolution", type=int, default=None,
              help="Input size instead of the dataset's (e.g. 32 on a CPU; recorded in the config). Budgets stay "
                   "at the dataset's size.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--threads", type=int, default=None, help="Torch CPU threads (default: torch's choice).")
@click.option("--opt", "opts", multiple=True, metavar="PROXY.KEY=VALUE", help="A named proxy option, as for `score`.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None, help="As for `score`.")
@click.option("--synthetic-data", is_flag=True, help="As for `score`.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the checkpoint, history.csv, summary.json and the figure (default: beside the "
                   "store, named by the search's config).")
@click.option("--gt", "gt_path", type=click.Path(), default=None,
              help="Ground truth for the best's accuracy (default: the store's, or the benchmark's variable).")
@click.option("--target", default=None, help="Ground-truth target for the accuracy (default: the benchmark's).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (best, best_score, best_flops, ...).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def search(bench, dataset, store, proxies, iters, random_count, population, seed, budget_flops, max_layers,
           min_params, max_params, mutation, batch_size, resolution, device, threads, opts, data_root,
           synthetic_data, out, gt_path, target, as_json, quiet):
    """Search a space with zero-cost proxies: AZ-NAS's Algorithm 1, or budgeted random search.

    Algorithm 1 (RECIPES.md section 6): children of the initial structure while the history is short
    (or uniform samples, on a space without one), then parents from the history, then from the top K-1
    of the whole history by the aggregate sum of ln(rank/t), updated incrementally after every accepted
    child. Children over budget are discarded and not counted. Scores go to the store; the state is
    checkpointed after every candidate, so rerunning a killed search's command resumes it exactly.

    \b
    Examples:
      zcbench search --bench nb201 --dataset cifar10 --iters 500 --population 64 --proxy az --seed 0
      zcbench search --bench mbv2 --budget-flops 450M --max-layers 14 --iters 100000 --population 1024 \\
          --proxy az --seed 123 --device cuda                        # the paper's search (Table 2)
      zcbench search --bench mbv2 --budget-flops 450M --max-layers 14 --iters 40 --population 8 \\
          --resolution 32 --batch-size 8 --opt az.spectral_dtype=float64   # CPU-sized (float64: see docs/search.md)
      zcbench search --bench autoformer-tiny --random 10000 --min-params 4M --max-params 6M --seed 123
      zcbench search --bench autoformer-tiny --random 200 --min-params 4M --max-params 6M --resolution 64 \\
          --batch-size 16                                            # CPU-sized

    Results go to --out (history.csv, summary.json, search.png); the selected architecture is the first
    argmax of the final aggregate over the whole history.
    """
    from zcbench.registry import get_benchmark
    from zcbench.search import run_search
    from zcbench.searchspace import Budget, parse_count

    set_threads(threads)
    if iters is not None and random_count is not None:
        raise ZCBenchError("give --iters (Algorithm 1) or --random N (random search), not both")
    benchmark = get_benchmark(bench)
    dataset = dataset or next(iter(benchmark.datasets))
    count = lambda text: parse_count(text) if text is not None else None  # noqa: E731
    budget = Budget(max_layers=max_layers, min_params=count(min_params), max_params=count(max_params),
                    max_flops=count(budget_flops))
    options = proxy_options(opts)
    result = run_search(store, bench, dataset, list(proxies), method="random" if random_count is not None else "evolution",
                        iters=random_count if random_count is not None else (100 if iters is None else iters),
                        population=population,
                        seed=seed, budget=budget, search_options={"mutation": mutation} if mutation else {},
                        batch_size=batch_size, resolution=resolution, device=device, options=options,
                        data_root=data_root, synthetic_data=synthetic_data, out=out, gt_path=gt_path, target=target,
                        progress=not quiet and not as_json)
    from zcbench.figures.search import plot_search

    plot_search(result.out / "history.csv", result.out, title=f"{result.config.method} on {bench}/{dataset}")
    click.echo(json.dumps(result.summary()) if as_json else result.render())


@cli.command("list", context_settings=CONTEXT)
@click.argument("pattern", required=False)
def list_cmd(pattern):
    """List the registered proxies (components, inputs, direction), benchmarks (datasets, subsets, ground
    truth) and figures and tables, each with its origin: built in, or the plug-in that registered it.

    PATTERN filters the names with shell wildcards, e.g. `zcbench list 'a*'`.
    """
    from zcbench.registry import BENCHMARKS, FIGURES, PROXIES
    from zcbench.searchspace import SearchSpace

    click.echo("proxies:")
    for name in PROXIES.names(pattern):
        spec = PROXIES.get(name).spec
        direction = "higher is better" if spec.higher_is_better else "lower is better"
        comps = ", ".join(spec.components)
        needs = "+".join(spec.needs) or "no input"
        click.echo(f"  {name:<12} [{comps}] needs {needs}; init {spec.init}; "
                   f"BN {spec.bn}; batch {spec.batch_size}; {spec.dtype}; {direction}; {PROXIES.origin(name)}")
        if spec.description:
            click.echo(f"  {'':<12} {spec.description}")
    click.echo("benchmarks:")
    for name in BENCHMARKS.names(pattern):
        bench = BENCHMARKS.get(name)
        searchable = isinstance(bench, SearchSpace)
        size = (f"{len(bench)} architectures" if bench.enumerable else "architectures from its file"
                if bench.ground_truth_readers() or not searchable else "a space to search")
        click.echo(f"  {name:<12} {size}; datasets: {', '.join(bench.datasets)}; {BENCHMARKS.origin(name)}")
        if bench.description:
            click.echo(f"  {'':<12} {bench.description}")
        if searchable:
            extra = "".join(f" [--{k} {'|'.join(v)}]" for k, v in bench.search_options.items())
            click.echo(f"  {'':<12} search: zcbench search --bench {name}{extra}")
        kinds = ", ".join(f"--{k}" if r.needs_path else f"{k} (no file)"
                          for k, r in bench.ground_truth_readers().items())
        if kinds:
            env = f" (or ${bench.gt_env_var})" if bench.gt_env_var else ""
            click.echo(f"  {'':<12} ground truth: {kinds}{env}")
        for subset in bench.subsets():
            click.echo(f"  {'':<12} subset: {subset}")
    click.echo("figures and tables (zcbench figures):")
    for name in FIGURES.names(pattern):
        click.echo(f"  {name:<12} {FIGURES.get(name).title}; {FIGURES.origin(name)}")


@cli.group(context_settings=CONTEXT)
def gt():
    """Ground truth: import benchmark results into the store."""


GT_KIND_FLAGS = {
    "csv": "A compact table (NB-201: nats_tss_200ep_test_acc.csv; row i = official index i).",
    "nats": "Official NATS-Bench topology files (fast-mode folder or the single .pickle.pbz2 file), read with "
            "nats_bench: hp=200, seed average, ori-test for cifar10, x-test otherwise.",
    "nas201": "The original NAS-Bench-201 release (NAS-Bench-201-v1_0-e61699.pth or v1_1-096897.pth), read with "
              "nas_201_api: the same protocol as --nats.",
    "json": "NDS: the benchmark's official JSON file (e.g. DARTS.json for nds-darts), or a folder holding it; "
            "read streaming. Records every entry (official index = list position; reruns: top then mid), "
            "its params and flops, and the targets.",
}


def _gt_kind_options(command):
    for kind, text in reversed(GT_KIND_FLAGS.items()):
        command = click.option(f"--{kind}", f"{kind}_path", type=click.Path(), default=None, help=text)(command)
    return command


@gt.command("import", context_settings=CONTEXT)
@store_option()
@bench_option
@_gt_kind_options
@click.argument("source", required=False, type=click.Path())
@click.option("--kind", default="auto", show_default=True,
              help="How to read SOURCE: a kind the benchmark lists in `zcbench list` (auto: by its path).")
@click.option("--target", default=None,
              help="Import only this target, by name or alias (NDS: final = 100 - last-epoch test error, the default "
                   "target; best = 100 - min_test_top1). Default: every target the file gives.")
@click.option("--skip-invalid", is_flag=True,
              help="Import the valid entries of a file with bad ones; the skipped entries (index and why) are "
                   "recorded in the ground truth's contract. Default: stop at the first bad entry.")
@click.option("--dedupe", is_flag=True,
              help="One row per architecture: entries that repeat an architecture (NDS rng/rerun files) are "
                   "averaged, and the contract says how many. Default: every entry is its own row.")
def gt_import(store, bench, source, kind, target, skip_invalid, dedupe, **kind_paths):
    """Store every dataset's ground truth with its contract (split, epochs, seed aggregation, source).

    Give the file with the flag of its kind, or as SOURCE, or set the benchmark's variable (see `zcbench
    list`); a benchmark whose truth needs no file (the fake one's is synthetic) takes none. The file is read
    completely first: bad input stops with one line and leaves the store untouched.

    \b
    Examples:
      zcbench gt import --bench nb201 --csv ../shared/data/nb201/nats_tss_200ep_test_acc.csv
      zcbench gt import --bench nb201 --nats ~/.torch/NATS-tss-v1_0-3ffb9-simple
      zcbench gt import --bench nb201 --nas201 ~/.torch/NAS-Bench-201-v1_1-096897.pth
      zcbench gt import --bench nds-darts --json ~/nds_data/DARTS.json
      ZCBENCH_NDS_DIR=~/nds_data zcbench gt import --bench nds-resnet_reruns --dedupe
      zcbench gt import --bench fake
    """
    from zcbench.benchmark import ReadOptions
    from zcbench.groundtruth import import_ground_truth
    from zcbench.registry import get_benchmark

    sources = [(k.removesuffix("_path"), v) for k, v in kind_paths.items() if v is not None]
    if source is not None or kind != "auto":
        sources.append((kind, source))
    if len(sources) > 1:
        raise ZCBenchError("give one ground-truth source: " + ", ".join(f"--{k} {v or ''}".strip() for k, v in sources))
    kind, path = sources[0] if sources else ("auto", None)
    benchmark = get_benchmark(bench)
    options = ReadOptions(target=target, skip_invalid=skip_invalid, dedupe=dedupe)
    start = time.perf_counter()
    truths = import_ground_truth(store, benchmark, path, kind, options)
    elapsed = time.perf_counter() - start
    for t in truths:
        facts = f"; {', '.join(t.facts)} per architecture" if t.facts else ""
        click.echo(f"{benchmark.name}/{t.dataset}: {t.target} for {len(t.archs)} architectures "
                   f"({t.contract.get('split')}, {t.contract.get('epochs')} epochs{facts}) -> {store}")
        if t.contract.get("skipped"):
            click.echo(f"  skipped: {t.contract['skipped']}")
    click.echo(f"read and stored in {elapsed:.1f} s")


@cli.command(context_settings=CONTEXT)
@click.argument("stores", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The new, merged store.")
def merge(stores, out):
    """Combine stores (e.g. shards) into a new one: the union of architectures, ground truth and scores.

    Entries must hold the same config (same label, same config hash); merging is idempotent.
    """
    from zcbench.store import merge_stores

    counts = merge_stores(list(stores), out)
    for path, n in counts.items():
        click.echo(f"{path}: {n} cells")
    click.echo(f"merged {len(counts)} store(s) into {out}")


@cli.command(context_settings=CONTEXT)
@click.argument("store_a", type=click.Path(dir_okay=False))
@click.argument("store_b", required=False, type=click.Path(dir_okay=False))
@click.option("--bench", default=None, help="Only this benchmark (default: every group both stores hold).")
@click.option("--dataset", default=None, help="Only this dataset.")
@click.option("--entry", "entries", multiple=True, metavar="A[=B]",
              help="Compare entry A of the first store with entry B of the second (default: every label both "
                   "hold, each with itself). Repeat for several pairs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def compare(store_a, store_b, bench, dataset, entries, as_json):
    """Compare two stores cell by cell: how far apart the values are, what flipped, what it does to ranks.

    For every score the table gives the cells both sides scored, how many are bit for bit equal, the
    largest and 99th-percentile relative difference and the largest absolute one (over cells finite on
    both sides), the NaN and infinity flips, Kendall tau between the two sides and the largest rank
    shift; and, from the run records, which settings differ (CPU, kernel path, threads, device, ...).
    This is how docs/reproducibility.md measures its tolerances.

    \b
    Examples:
      zcbench score --proxy az --archs uniform1000-seed0 --limit 200 --threads 1 --store t1.h5
      ATEN_CPU_CAPABILITY=avx2 zcbench score --proxy az --archs uniform1000-seed0 --limit 200 --threads 1 --store avx2.h5
      zcbench compare t1.h5 avx2.h5
      zcbench compare study.h5 --entry az=az@1a2b3c4d          # two entries of one store (float32 vs float64)
    """
    from zcbench.compare import compare_stores, render, to_dict

    pairs = [(a, b or a) for a, _, b in (e.partition("=") for e in entries)]
    result = compare_stores(store_a, store_b, bench=bench, dataset=dataset, pairs=pairs or None)
    if as_json:
        click.echo(json.dumps(to_dict(result), indent=2, allow_nan=False))
    else:
        click.echo(render(result, store_a, store_b or store_a))


@cli.command(context_settings=CONTEXT)
@store_option()
@bench_option
@click.option("--gt", "gt_path", type=click.Path(), default=None, help="Ground truth to use instead of the store's.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (created if needed).")
def report(store, bench, gt_path, out):
    """One self-contained HTML page: every figure and table the store supports, the ground-truth contracts
    and the provenance of every proxy entry (config hash, code version, device, data used)."""
    from zcbench.report import write_report

    click.echo(f"wrote {write_report(store, out, bench=bench, gt_path=gt_path)}")


@cli.command(context_settings=CONTEXT)
@store_option()
@click.option("--json", "as_json", is_flag=True,
              help="Print the whole summary as JSON (each entry's runs under `runs`, each run's cell count under "
                   "`cells`).")
def info(store, as_json):
    """Summarise a store: groups, ground truth, proxy entries and every run that scored them.

    Each run's provenance record says how its cells were computed: code version, torch, device, CPU
    model and kernel path, threads, workers, backend, options, start and end time, and how many cells it
    wrote. A run that shows no end time was killed; its finished cells are kept.
    """
    from zcbench.info import render_summary
    from zcbench.store import Store

    summary = Store(store).summary()
    click.echo(json.dumps(summary, indent=2, allow_nan=False, default=str) if as_json else render_summary(summary))


cli.add_command(figures)
cli.add_command(ensemble)

# click >= 8.2 signals "no arguments: show help" by this exception; older versions print help themselves
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit code 2."""
    try:
        cli.main(args=argv, prog_name="zcbench", standalone_mode=False)
    except ZCBenchError as exc:
        click.echo(f"zcbench: error: {exc}", err=True)
        return 2
    except _NO_ARGS_IS_HELP as exc:
        click.echo(exc.format_message())
        return 0
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        click.echo(f"zcbench: error: {exc.format_message()}{hint}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"zcbench: error: {exc.format_message()}", err=True)
        return exc.exit_code or 1
    except click.exceptions.Abort:
        click.echo("zcbench: interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("zcbench: interrupted; finished scores are kept in the store", err=True)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
