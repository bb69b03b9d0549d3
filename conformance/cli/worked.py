"""``worked``: every number the documents print, recomputed, with its status (match, erratum...)."""

from __future__ import annotations

import argparse
import json

from conformance import exit_codes


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worked",
        help="recompute every number the documents print and show errata",
        description="Recompute every worked number of the source documents (cited by file name in "
        "conformance/worked/ledger.py) with the "
        "scalar engine, impl and the worked case files; print document, quantity, printed "
        "value, computed value and status (match, rounded, erratum, reconstruction, implied). "
        "Exit 0 when every row agrees with its correct value, 1 otherwise.",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the rows as a JSON list of objects (with --complexity: an object with "
        "'rows' and 'complexity')",
    )
    parser.add_argument(
        "--complexity",
        action="store_true",
        help="also measure document 003's claim: backprop (1 forward + 1 backward pass) "
        "against nudging every parameter (p + 1 forward passes), counted and timed as the "
        "parameter count grows",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from conformance.worked import complexity
    from conformance.worked.ledger import format_table, ledger_rows, row_to_json

    rows = ledger_rows()
    ok = all(row.holds for row in rows)
    measurements = complexity.measure() if args.complexity else None
    if measurements is not None:
        ok = ok and complexity.counts_hold(measurements)
    if args.json:
        objects = [row_to_json(row) for row in rows]
        if measurements is None:
            print(json.dumps(objects, indent=2, ensure_ascii=False))
        else:
            report = {"rows": objects, "complexity": complexity.measurements_to_json(measurements)}
            print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print(format_table(rows))
        if measurements is not None:
            print()
            print("document 003's complexity claim, measured (003_f824c9119bf8e39e.txt, 二.4):")
            print(complexity.format_table(measurements))
    return exit_codes.OK if ok else exit_codes.MISMATCH
