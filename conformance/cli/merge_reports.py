"""``merge-reports``: combine the JSON reports of a sharded run into one verdict."""

from __future__ import annotations

import argparse

from conformance import exit_codes
from conformance.merge import merge
from conformance.report import dump_json, in_progress_json, write_report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "merge-reports",
        help="combine the JSON reports of check --shard runs into one verdict",
        description="Combine JSON reports written by 'check --shard I/N --report-json' on "
        "several machines into one verdict. The shards must come from the same run (same "
        "seed, case budget and implementation) and together cover every shard 1..N.",
    )
    parser.add_argument("reports", nargs="+", metavar="REPORT.json")
    parser.add_argument("--report-json", metavar="PATH", help="write the merged report to PATH")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.report_json:  # an earlier merge's verdict must not outlive a failed one
        write_report(args.report_json, dump_json(in_progress_json({"reports": args.reports})))
    merged = merge(args.reports)
    counts = ", ".join(f"{n} {s}" for s, n in merged["counts"].items() if n)
    print(
        f"merged {len(args.reports)} shard reports: seed {merged['seed']}, "
        f"{len(merged['cases'])} cases ({counts or 'none'})"
    )
    for name, row in merged["per_reference"].items():
        print(
            f"  {name:<10} agree {row['agree']:>5}  disagree {row['disagree']:>5}  "
            f"n/a {row['not_comparable']:>5}"
        )
    for failure in merged["failures"]:
        print(
            f"FAILED: {failure['verdict']}"
            + (f"\n  replay: {failure['replay']}" if failure.get("replay") else "")
        )
    if args.report_json:
        write_report(args.report_json, dump_json(merged))
        print(f"JSON report: {args.report_json}")
    code = merged["exit_code"]
    print(f"exit code {code}: {exit_codes.DESCRIPTIONS.get(code, 'unknown')}")
    return code
