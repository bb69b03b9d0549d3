"""Presenting a bench run: the machine it ran on, the table, the JSON and the chart."""

from __future__ import annotations

import datetime
import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conformance.bench.measure import PIN_VARIABLES, Bench, Row
from conformance.text import wrapped


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _numpy_blas() -> dict[str, Any]:
    import numpy as np

    try:
        config = np.show_config(mode="dicts")  # numpy >= 1.26
    except TypeError:
        return {"name": "unknown (numpy < 1.26 has no show_config(mode='dicts'))"}
    blas = (config or {}).get("Build Dependencies", {}).get("blas", {})
    return {key: blas[key] for key in ("name", "version", "openblas configuration") if key in blas}


def _threadpools() -> list[dict[str, Any]] | str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    keys = ("user_api", "internal_api", "version", "num_threads", "architecture")
    return [{key: pool.get(key) for key in keys} for pool in threadpool_info()]


def _torch() -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"version": None}
    settings = {}
    for line in torch.__config__.show().splitlines():
        if "Build settings:" in line:
            for item in line.split("Build settings:", 1)[1].split(","):
                key, _, value = item.strip().partition("=")
                if key in ("BLAS_INFO", "LAPACK_INFO", "USE_MKL", "USE_OPENMP", "USE_MKLDNN"):
                    settings[key] = value
    parallel = torch.__config__.parallel_info().splitlines()
    backend = next((line.split(":", 1)[1].strip() for line in parallel if "backend" in line), "")
    return {
        "version": torch.__version__,
        "build": settings,
        "threads": torch.get_num_threads(),
        "parallel_backend": backend,
    }


def _jax() -> dict[str, Any]:
    try:
        import jax
        import jaxlib
    except ImportError:
        return {"version": None}
    return {
        "version": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "backend": jax.default_backend(),
        "devices": [str(device) for device in jax.devices()],
    }


def machine() -> dict[str, Any]:
    """Cores, CPU, library versions and their BLAS, thread settings and load."""
    import numpy as np

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threads": {variable: os.environ.get(variable) for variable in PIN_VARIABLES},
        "numpy": {"version": np.__version__, "blas": _numpy_blas()},
        "threadpools": _threadpools(),
        "torch": _torch(),
        "jax": _jax(),
    }


def machine_text(info: Mapping[str, Any]) -> str:
    """The machine in two or three lines."""
    blas = info["numpy"]["blas"]
    numpy_blas = " ".join(str(blas[key]) for key in ("name", "version") if key in blas)
    torch = info["torch"]
    torch_text = (
        f"torch {torch['version']} (BLAS {torch['build'].get('BLAS_INFO', '?')}, "
        f"{torch['parallel_backend'] or 'threads'} {torch['threads']} thread(s))"
        if torch.get("version")
        else "torch not installed"
    )
    jax = info["jax"]
    jax_text = f"jax {jax['version']} ({jax['backend']})" if jax.get("version") else "no jax"
    threads = ", ".join(f"{key}={value}" for key, value in info["threads"].items())
    lines = [
        f"machine: {info['cpu']}, {info['usable_cores']} of {info['cores']} cores usable, "
        f"load {'/'.join(map(str, info['load_average']))} at start; {info['date']}",
        f"python {info['python']}, numpy {info['numpy']['version']} ({numpy_blas}), "
        f"{torch_text}, {jax_text}",
        f"threads pinned: {threads}",
    ]
    return "\n".join(part for line in lines for part in wrapped(line))


def _ratio(row: Row) -> str:
    """The ratio to two decimals, or as many more as it takes to show on which side of
    its goal it falls: 1.595x, not a "1.60x" that did not meet a goal of 1.6x."""
    if row.ratio >= 100:
        return f"{row.ratio:.0f}x"
    decimals = 2
    while (
        row.goal is not None
        and decimals < 6
        and (round(row.ratio, decimals) >= row.goal) != row.met
    ):
        decimals += 1
    return f"{row.ratio:.{decimals}f}x"


def _met(row: Row) -> str:
    return {True: "met", False: "NOT MET", None: "-"}[row.met]


def table(bench: Bench) -> str:
    """The rows as a Markdown table (also readable as plain text)."""
    lines = [
        "| measurement | ours | peer | ratio | goal | |",
        "|---|---|---|---|---|---|",
    ]
    for row in bench.rows:
        lines.append(
            f"| {row.name} | {row.ours} | {row.peer} | {_ratio(row)} | {row.goal_text} "
            f"| {_met(row)} |"
        )
    notes = [f"- {row.name}: {row.note}" for row in bench.rows if row.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def terminal_table(bench: Bench) -> str:
    """Each row in two lines that fit a terminal (the measurement, then ours, the peer,
    the ratio and the goal), then the notes, wrapped; bench.md and --json have the same
    rows as a table and as data."""
    lines = []
    for row in bench.rows:
        lines += wrapped(row.name)
        verdict = f"goal {row.goal_text}: {_met(row)}" if row.goal is not None else row.goal_text
        lines += wrapped(f"    {row.ours} against {row.peer}: {_ratio(row)} ({verdict})")
    notes = [row for row in bench.rows if row.note]
    if notes:
        lines += ["", "notes:"]
    for row in notes:
        lines += wrapped(f"- {row.name}: {row.note}")
    return "\n".join(lines)


def report_json(bench: Bench, info: Mapping[str, Any]) -> str:
    return json.dumps({"machine": info, **bench.to_json()}, indent=2, default=str)


def draw_chart(bench: Bench, info: Mapping[str, Any], path: Path) -> str | None:
    """A PNG of every ratio next to its goal; returns None, or why no chart was drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return "matplotlib is not installed (pip install 'backprop-conformance[demo]'): no chart"
    rows = bench.rows
    figure, axes = plt.subplots(figsize=(10, 0.7 * len(rows) + 1.8))
    positions = list(range(len(rows)))[::-1]
    colours = [{True: "tab:green", False: "tab:red", None: "tab:gray"}[row.met] for row in rows]
    axes.barh(positions, [row.ratio for row in rows], color=colours)
    for position, row in zip(positions, rows, strict=True):
        if row.goal is not None:
            axes.plot([row.goal, row.goal], [position - 0.4, position + 0.4], color="black")
        axes.annotate(f" {_ratio(row)}", (row.ratio, position), va="center", fontsize=8)
    axes.set_yticks(positions, [_wrap(row.name) for row in rows], fontsize=8)
    axes.set_xscale("log")
    ratios = [row.ratio for row in rows] + [row.goal for row in rows if row.goal is not None]
    axes.set_xlim(min(ratios) / 1.5, max(ratios) * 2)  # room for the labels
    axes.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    axes.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes.axvline(1.0, color="gray", linewidth=0.5)
    axes.set_xlabel("ratio, higher is better (peer time / ours, or limit / measured); black: goal")
    title = (
        f"backprop-conformance bench, {info['date'][:10]}: {info['cpu']}, "
        f"{info['usable_cores']} cores, threads {info['threads'].get('OMP_NUM_THREADS')}"
    )
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return None


def _wrap(text: str, width: int = 48) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])
