"""The ``herald`` command line.

Exit codes are part of the interface: 0 success (valid), 1 invalid input
(manifests that do not validate), 2 usage or I/O errors (a missing path, a bad
flag). Output meant for the user goes to stdout; progress and summaries to
stderr, so ``herald validate`` output can be piped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from herald import __version__

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

Command = Callable[[argparse.Namespace], int]


def _cmd_validate(args: argparse.Namespace) -> int:
    from herald.loader import LoadIOError, load_paths

    try:
        result = load_paths([Path(p) for p in args.paths])
    except LoadIOError as e:
        print(f"herald validate: {e}", file=sys.stderr)
        return EXIT_USAGE
    for problem in result.problems:
        if problem.severity == "error":
            print(problem)
        elif problem.severity == "warning" or args.verbose:
            print(problem, file=sys.stderr)
    kinds = {k: len(result.of_kind(k)) for k in ("EventSource", "Sensor", "EventBus")}
    summary = ", ".join(
        f"{n} {k}{'es' if k == 'EventBus' else 's'}" if n != 1 else f"1 {k}"
        for k, n in kinds.items()
    )
    errors = len(result.errors)
    verdict = "valid" if result.ok else f"{errors} error{'s' if errors != 1 else ''}"
    files = f"{result.files} file{'s' if result.files != 1 else ''}"
    print(f"{files}: {summary}; {verdict}", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_INVALID


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="herald",
        description=(
            "Herald: an event-driven automation bus. EventSources turn input into "
            "CloudEvents on a bus; Sensors filter them and fire Triggers. Manifests are "
            "Argo Events compatible (herald.dev/v1alpha1 or argoproj.io/v1alpha1)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"herald {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = sub.add_parser(
        "validate",
        help="check manifests strictly and print every error as file#doc: path: reason",
        description=(
            "Validate EventSource, Sensor and EventBus manifests (files or folders, "
            "*.yaml/*.yml/*.json, multi-document). Exit 0 when valid, 1 when invalid, "
            "2 on a usage or I/O error."
        ),
    )
    validate.add_argument("paths", nargs="+", metavar="PATH", help="manifest file or folder")
    validate.add_argument(
        "-v", "--verbose", action="store_true", help="also print notes (skipped documents)"
    )
    validate.set_defaults(func=_cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on usage errors, 0 on --help
        return int(e.code) if isinstance(e.code, int) else EXIT_USAGE
    func: Command | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
