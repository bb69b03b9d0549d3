"""``merge-reports``: combine the JSON reports of a sharded run into one verdict."""

from __future__ import annotations

import argparse

from conformance.cli.options import byte_count
from conformance.defaults import MAX_INPUT_BYTES
from conformance.jsonfiles import size_text
from conformance.merge import merge
from conformance.outputs import check_output_file, refuse_overlaps
from conformance.report import dump_json, in_progress_json, is_json_report, write_report
from conformance.text import printable
from conformance.verdict import verdict_text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "merge-reports",
        help="combine the JSON reports of check --shard runs into one verdict",
        description="Combine JSON reports written by 'check --shard I/N --report-json' on "
        "several machines into one verdict. The shards must come from the same run (same "
        "seed, case budget and implementation) and together cover every shard 1..N. The "
        "verdict is recomputed from the case outcomes; a report whose stated counts, "
        "failure or exit code disagree with its outcomes is refused (exit code 2).",
    )
    parser.add_argument("reports", nargs="+", metavar="REPORT.json")
    parser.add_argument("--report-json", metavar="PATH", help="write the merged report to PATH")
    parser.add_argument(
        "--max-report-bytes",
        type=byte_count,
        default=MAX_INPUT_BYTES,
        metavar="SIZE",
        help="refuse report files larger than SIZE, before reading them (default "
        f"{size_text(MAX_INPUT_BYTES).replace(' ', '')})",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    refuse_overlaps({"--report-json": args.report_json}, inputs=args.reports)
    if args.report_json:
        check_output_file(
            args.report_json, "--report-json", replaceable=is_json_report, kind="JSON report"
        )
        # an earlier merge's verdict must not outlive a failed one
        write_report(args.report_json, dump_json(in_progress_json({"reports": args.reports})))
    merged = merge(args.reports, max_bytes=args.max_report_bytes)
    counts = ", ".join(f"{n} {s}" for s, n in merged["counts"].items() if n)
    print(
        f"merged {len(args.reports)} shard reports: seed {merged['seed']}, "
        f"{len(merged['cases'])} cases ({counts or 'none'})"
    )
    for name, row in merged["per_reference"].items():
        print(
            f"  {printable(name):<10} agree {row['agree']:>5}  disagree {row['disagree']:>5}  "
            f"n/a {row['not_comparable']:>5}"
        )
    for failure in merged["failures"]:
        print(
            f"FAILED: {printable(failure['verdict'])}"
            + (f"\n  replay: {printable(failure['replay'])}" if failure.get("replay") else "")
        )
    if args.report_json:
        write_report(args.report_json, dump_json(merged))
        print(f"JSON report: {printable(args.report_json)}")
    code = merged["exit_code"]
    print(f"exit code {code}: {verdict_text(code, merged['failure_kind'])}")
    return int(code)
