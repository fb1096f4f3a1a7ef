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
        result = load_paths([Path(p) for p in args.paths], argo=args.argo)
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


def _cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from pydantic import ValidationError

    from herald import logs
    from herald.core.errors import HeraldError
    from herald.loader import LoadIOError, load_paths
    from herald.runner import run
    from herald.settings import Settings

    overrides = {
        key: value
        for key, value in {
            "bus_url": args.bus,
            "state_dir": args.state_dir,
            "secrets_dir": args.secrets_dir,
            "configmaps_dir": args.configmaps_dir,
            "http_host": args.host,
            "log_level": args.log_level,
            "log_format": args.log_format,
        }.items()
        if value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as e:
        for err in e.errors(include_url=False):
            print(f"herald run: {'.'.join(map(str, err['loc']))}: {err['msg']}", file=sys.stderr)
        return EXIT_USAGE
    logs.setup(settings.log_level, settings.log_format)
    try:
        result = load_paths([Path(p) for p in args.paths])
    except LoadIOError as e:
        print(f"herald run: {e}", file=sys.stderr)
        return EXIT_USAGE
    for problem in result.problems:
        if problem.severity != "note":
            print(problem, file=sys.stderr)
    if not result.ok:
        print("herald run: the manifests are invalid; nothing was started", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(run(result, settings))
    except HeraldError as e:
        print(f"herald run: {e}", file=sys.stderr)
        return EXIT_INVALID


def _cmd_test(args: argparse.Namespace) -> int:
    import asyncio

    from herald.core.errors import HeraldError
    from herald.loader import LoadIOError, load_paths
    from herald.settings import Settings
    from herald.tester import (
        EventInputError,
        build_sensors,
        evaluate,
        fire,
        format_text,
        read_events,
        source_types,
    )
    from triggers.base import SharedHTTP

    try:
        result = load_paths([Path(p) for p in args.paths])
    except LoadIOError as e:
        print(f"herald test: {e}", file=sys.stderr)
        return EXIT_USAGE
    if not result.ok:
        for problem in result.errors:
            print(problem, file=sys.stderr)
        print("herald test: the manifests are invalid", file=sys.stderr)
        return EXIT_USAGE
    default = None
    if args.as_:
        es, sep, name = args.as_.partition("/")
        if not sep or not es or not name:
            print("herald test: --as takes EVENTSOURCE/EVENT", file=sys.stderr)
            return EXIT_USAGE
        default = (es, name)
    headers: dict[str, str] = {}
    for item in args.header or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            print(f"herald test: -H takes NAME=VALUE, got {item!r}", file=sys.stderr)
            return EXIT_USAGE
        headers[key.strip()] = value
    settings_args = {"secrets_dir": args.secrets_dir} if args.secrets_dir else {}
    settings = Settings(**settings_args)

    async def go() -> int:
        http = SharedHTTP()
        try:
            sensors = build_sensors(result, settings, http)
            if not sensors:
                print("herald test: no Sensor in the given paths", file=sys.stderr)
                return EXIT_USAGE
            events = read_events(
                args.event or ["-"], source_types(result), default, headers=headers
            )
            if not events:
                print("herald test: no events to test", file=sys.stderr)
                return EXIT_USAGE
            reports = []
            for sensor in sensors:
                made = evaluate(sensor, events)
                if args.fire:
                    await fire(sensor, made)
                reports.extend(made)
        except (EventInputError, HeraldError) as e:
            print(f"herald test: {e}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            await http.close()
        if args.json:
            import orjson

            out = orjson.dumps(
                [r.to_json() for r in reports],
                option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z,
                default=str,
            )
            print(out.decode())
        else:
            print(format_text(reports))
        return EXIT_OK if any(r.fires for r in reports) else EXIT_INVALID

    return asyncio.run(go())


def _cmd_convert(args: argparse.Namespace) -> int:
    from herald.convert import ConvertError, convert_paths
    from herald.loader import LoadIOError

    try:
        converted = convert_paths([Path(p) for p in args.paths], args.to)
    except (LoadIOError, OSError) as e:
        print(f"herald convert: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ConvertError as e:
        print(f"herald convert: {e}", file=sys.stderr)
        return EXIT_INVALID
    changed = [c for c in converted if c.rewritten]
    for item in changed:
        if args.dry_run:
            print(f"{item.path}: would rewrite {item.rewritten} apiVersion(s)")
        else:
            item.path.write_text(item.text, encoding="utf-8")
            print(f"{item.path}: rewrote {item.rewritten} apiVersion(s)")
    print(
        f"{len(converted)} files, {len(changed)} {'to change' if args.dry_run else 'changed'}",
        file=sys.stderr,
    )
    return EXIT_OK


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
    validate.add_argument(
        "--argo",
        action="store_true",
        help="also check that Argo Events would run the manifests as they are "
        "(argoproj.io apiVersion, no Herald extensions)",
    )
    validate.set_defaults(func=_cmd_validate)

    run = sub.add_parser(
        "run",
        help="run every EventSource and Sensor found in PATHs in this process",
        description=(
            "Run EventSources and Sensors in one process on the embedded bus (durable "
            "sqlite under --state-dir by default). Refuses, before starting anything, what "
            "it cannot run (exit 2). Stops gracefully on SIGTERM/SIGINT."
        ),
    )
    run.add_argument("paths", nargs="+", metavar="PATH", help="manifest file or folder")
    run.add_argument("--bus", metavar="URL", help="bus URL: memory:// or sqlite:///path.db")
    run.add_argument("--state-dir", metavar="DIR", help="local state (default .herald)")
    run.add_argument("--secrets-dir", metavar="DIR", help="secrets as DIR/<name>/<key>")
    run.add_argument("--configmaps-dir", metavar="DIR", help="ConfigMaps as DIR/<name>/<key>")
    run.add_argument("--host", help="address HTTP sources listen on (default 0.0.0.0)")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    run.add_argument("--log-format", choices=["text", "json"])
    run.set_defaults(func=_cmd_run)

    test = sub.add_parser(
        "test",
        help="run events through sensors without a cluster and explain every decision",
        description=(
            "Apply events, in order, to the Sensors found in PATHs (EventSources there shape "
            "test events). Prints, per dependency and filter clause, pass/fail and the value "
            "seen, each trigger's condition, and the rendered template and payload that "
            "would be sent, without firing (--fire fires for real). Exit 0 when a trigger "
            "would fire, 1 when none would, 2 on an error."
        ),
    )
    test.add_argument("paths", nargs="+", metavar="PATH", help="Sensor (and EventSource) files")
    test.add_argument(
        "-e",
        "--event",
        action="append",
        metavar="FILE",
        help="event file (JSON, JSON lines or YAML; '-' or none: standard input); repeatable",
    )
    test.add_argument(
        "--as",
        dest="as_",
        metavar="EVENTSOURCE/EVENT",
        help="treat documents without eventSourceName/eventName as payloads from this event",
    )
    test.add_argument(
        "-H",
        "--header",
        action="append",
        metavar="NAME=VALUE",
        help="a header for events given without headers (e.g. X-GitHub-Event=push)",
    )
    test.add_argument("--fire", action="store_true", help="fire the triggers for real")
    test.add_argument("--json", action="store_true", help="machine-readable output")
    test.add_argument("--secrets-dir", metavar="DIR", help="secrets as DIR/<name>/<key>")
    test.set_defaults(func=_cmd_test)

    convert = sub.add_parser(
        "convert",
        help="rewrite the apiVersion of EventSources, Sensors and EventBuses (nothing else)",
        description=(
            "Rewrite apiVersion to herald.dev/v1alpha1 (--to herald) or argoproj.io/v1alpha1 "
            "(--to argo) in place, for EventSource, Sensor and EventBus documents only; "
            "comments, formatting and other documents stay as they are."
        ),
    )
    convert.add_argument("paths", nargs="+", metavar="PATH", help="manifest file or folder")
    convert.add_argument("--to", choices=["herald", "argo"], required=True)
    convert.add_argument("--dry-run", action="store_true", help="say what would change")
    convert.set_defaults(func=_cmd_convert)
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
