"""Run every benchmark and print every table: ``python bench/run_all.py`` (``--quick`` for fewer runs).

Also writes the tables to ``bench/RESULTS.md`` with the machine they came from (``--no-write`` to skip).
Prints the tables and nothing else: log lines below warnings are off and child processes' stderr is kept
aside, shown only with a benchmark that fails (``--verbose`` shows everything as it happens).
"""

from __future__ import annotations

import datetime
import gc
import importlib
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Table, configure_logging, machine_line, quiet_children, verbose_requested

BENCHMARKS = (
    "call_economy",
    "burst",
    "mcp_overhead",
    "cold_start",
    "tokens",
    "sdk_compare",
    "slack_latency",
    "sandbox_scale",
    "shared_gate",
    "team",
    "feed",
)


def main() -> None:
    quick = "--quick" in sys.argv
    verbose = verbose_requested()
    configure_logging(verbose)
    started = time.perf_counter()
    sections: list[str] = []
    summary: list[tuple[str, str, bool]] = []
    for name in BENCHMARKS:
        t0 = time.perf_counter()
        # Earlier benchmarks leave objects behind in this process; keep the collector from walking them
        # during later measurements (a CPU-per-task figure moved from 14 to 24 µs without this).
        gc.collect()
        gc.freeze()
        try:
            with quiet_children(verbose):
                module = importlib.import_module(f"bench.{name}")
                tables: list[Table] = module.run(quick=quick)
        except Exception:
            text = f"### {name}: FAILED\n\n```\n{traceback.format_exc()}```\n"
            print(text, flush=True)
            sections.append(text)
            continue
        for table in tables:
            text = table.render()
            print(text, flush=True)
            sections.append(text)
            summary.extend((table.title.split(" — ")[0], target, ok) for target, ok in table.verdicts)
        print(f"({name}: {time.perf_counter() - t0:.0f} s)\n", flush=True)
    lines = ["### Summary", "", "| benchmark | target | result |", "|---|---|---|"]
    lines += [f"| {b} | {t} | {'PASS' if ok else 'MISS'} |" for b, t, ok in summary]
    overview = "\n".join(lines) + "\n"
    print(overview)
    total = time.perf_counter() - started
    print(f"total {total:.0f} s")
    if "--no-write" not in sys.argv:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
        header = [
            "# Benchmark results",
            "",
            f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {machine_line()}; `nproc` = {nproc}",
            f"- command: `python bench/run_all.py{' --quick' if quick else ''}` ({total:.0f} s)",
            "",
        ]
        body = "\n".join(header) + "\n" + overview + "\n" + "\n".join(sections)
        (Path(__file__).resolve().parent / "RESULTS.md").write_text(body)


if __name__ == "__main__":
    main()
