"""Benchmark Herald's CEL engine against hand-written Python and cel-python.

Run it as ``.venv/bin/python -m bench.cel``. It loads the largest GitHub
``pull_request`` payload of the shared test data (or builds a synthetic one of
the same shape when that folder is absent, and says so), wraps it as the event
data a github EventSource emits (``{"headers": {...lists...}, "body": payload,
"metadata": {}}``) and, for typical Sensor filters, prints the microseconds per
evaluation of our engine, of the equivalent hand-written lambda and of
cel-python (including the conversion of the activation it needs per event),
with the ratio ours/lambda per expression and its median.

Each figure is the best of several repeats of a timed loop
(``time.perf_counter``), so it measures the engine, not the machine's noise.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sensors import cel

PAYLOAD_DIR = (
    Path(__file__).resolve().parents[2] / "shared" / "testdata" / "github" / "pull_request"
)

# (CEL filter, the same check written by hand in Python)
CASES: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ('body.action == "opened"', lambda d: d["body"]["action"] == "opened"),
    (
        'headers["X-Github-Event"][0] == "pull_request" && body.pull_request.base.ref == "main"',
        lambda d: (
            d["headers"]["X-Github-Event"][0] == "pull_request"
            and d["body"]["pull_request"]["base"]["ref"] == "main"
        ),
    ),
    (
        'body.pull_request.labels.exists(l, l.name == "deploy")',
        lambda d: any(lb["name"] == "deploy" for lb in d["body"]["pull_request"]["labels"]),
    ),
    (
        'size(body.pull_request.title) > 0 && body.pull_request.title.startsWith("feat")',
        lambda d: (
            len(d["body"]["pull_request"]["title"]) > 0
            and d["body"]["pull_request"]["title"].startswith("feat")
        ),
    ),
    (
        "body.pull_request.additions + body.pull_request.deletions < 500",
        lambda d: (
            d["body"]["pull_request"]["additions"] + d["body"]["pull_request"]["deletions"] < 500
        ),
    ),
    (
        '"bug" in body.pull_request.labels.map(l, l.name)',
        lambda d: "bug" in [lb["name"] for lb in d["body"]["pull_request"]["labels"]],
    ),
    (
        'body.action in ["opened", "synchronize", "reopened"] && !body.pull_request.draft',
        lambda d: (
            d["body"]["action"] in ("opened", "synchronize", "reopened")
            and not d["body"]["pull_request"]["draft"]
        ),
    ),
]


def load_event() -> tuple[dict[str, Any], str]:
    """The github event data to filter, and where its payload came from."""
    files = (
        sorted(PAYLOAD_DIR.glob("*.json"), key=lambda p: p.stat().st_size)
        if PAYLOAD_DIR.is_dir()
        else []
    )
    if files:
        path = files[-1]
        payload = json.loads(path.read_bytes())
        source = f"{path.name} ({path.stat().st_size / 1024:.1f} KB)"
    else:
        payload = synthetic_payload()
        size = len(json.dumps(payload)) / 1024
        source = f"SYNTHETIC payload ({size:.1f} KB): {PAYLOAD_DIR} is absent"
    data = {
        "headers": {
            "X-Github-Event": ["pull_request"],
            "X-Github-Delivery": ["72d3162e-cc78-11e3-81ab-4c9367dc0958"],
            "X-Hub-Signature-256": ["sha256=" + "0" * 64],
            "Content-Type": ["application/json"],
            "User-Agent": ["GitHub-Hookshot/044aadd"],
        },
        "body": payload,
        "metadata": {},
    }
    return data, source


def synthetic_payload() -> dict[str, Any]:
    """A pull_request payload of GitHub's shape and size (~25 KB), for machines without the data."""
    user = {
        "login": "octocat",
        "id": 1,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": "https://github.com/images/error/octocat_happy.gif",
        "type": "User",
        "site_admin": False,
        **{f"{k}_url": f"https://api.github.com/users/octocat/{k}" for k in "abcdefghij"},
    }
    repo = {
        "id": 1296269,
        "name": "Hello-World",
        "full_name": "octocat/Hello-World",
        "owner": user,
        "private": False,
        "description": "This your first repo!",
        **{
            f"{k}{n}_url": f"https://api.github.com/repos/octocat/Hello-World/{k}/{n}"
            for k in "abcdefghijklmnopqrstuvwxyz"
            for n in range(3)
        },
    }
    pr = {
        "url": "https://api.github.com/repos/octocat/Hello-World/pulls/1347",
        "id": 1,
        "number": 1347,
        "state": "open",
        "title": "Update the README with new information.",
        "user": user,
        "body": "This is a pretty simple change that we need to pull into master." * 5,
        "labels": [
            {"id": i, "name": n, "color": "f29513", "default": False}
            for i, n in enumerate(["bug", "docs"])
        ],
        "draft": False,
        "head": {
            "label": "octocat:new-topic",
            "ref": "new-topic",
            "sha": "6dcb09b5",
            "user": user,
            "repo": repo,
        },
        "base": {
            "label": "octocat:master",
            "ref": "master",
            "sha": "6dcb09b5",
            "user": user,
            "repo": repo,
        },
        "additions": 100,
        "deletions": 3,
        "changed_files": 5,
        "requested_reviewers": [user, user],
        "assignees": [user],
    }
    return {
        "action": "labeled",
        "number": 1347,
        "pull_request": pr,
        "repository": repo,
        "sender": user,
    }


def _loop_time(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def _calibrate(fn: Callable[[], Any], budget: float) -> int:
    n = 1
    while _loop_time(fn, n) < budget / 4 and n < 1 << 22:
        n *= 2
    return n


def best_us(fn: Callable[[], Any], *, repeats: int = 5, budget: float = 0.2) -> float:
    """Best time per call in µs: calibrate a loop to ~``budget`` s, keep the best repeat."""
    return best_us_pair([fn], repeats=repeats, budget=budget)[0]


def best_us_pair(
    fns: list[Callable[[], Any]], *, repeats: int = 7, budget: float = 0.2
) -> list[float]:
    """Best µs per call of each function, their repeats interleaved so noise hits all alike."""
    counts = [_calibrate(fn, budget) for fn in fns]
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, (fn, n) in enumerate(zip(fns, counts, strict=True)):
            best[i] = min(best[i], _loop_time(fn, n) / n)
    return [b * 1e6 for b in best]


def celpy_runners(
    expr: str, data: dict[str, Any]
) -> tuple[Callable[[], Any], Callable[[], Any]] | None:
    """cel-python on ``expr``: (per event, converting the activation as it must; engine only)."""
    try:
        import celpy  # optional reference engine
        from celpy.adapter import json_to_cel
    except ImportError:
        return None
    env = celpy.Environment()
    program = env.program(env.compile(expr))
    names = cel.compile(expr).references
    converted = {name: json_to_cel(data[name]) for name in names}

    def per_event() -> Any:
        return program.evaluate({name: json_to_cel(data[name]) for name in names})

    def engine_only() -> Any:
        return program.evaluate(converted)

    return per_event, engine_only


def main(argv: list[str] | None = None) -> None:
    """Print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.2, help="seconds per timed repeat")
    parser.add_argument("--no-celpy", action="store_true", help="skip cel-python")
    args = parser.parse_args(argv)
    data, source = load_event()
    print(f"payload: {source}")
    print(
        f"{'expression':<58} {'ours µs':>8} {'lambda µs':>9} {'ratio':>6}"
        f" {'cel-python µs':>13} {'(engine only)':>13}"
    )
    ratios = []
    for expr, by_hand in CASES:
        program = cel.compile(expr)
        ours_result = program.evaluate(data)
        if ours_result != by_hand(data):
            raise SystemExit(f"{expr}: engine says {ours_result!r}, lambda says {by_hand(data)!r}")
        ours, lam = best_us_pair(
            [functools.partial(program.evaluate, data), functools.partial(by_hand, data)],
            budget=args.budget,
        )
        ratio = ours / lam
        ratios.append(ratio)
        runners = None if args.no_celpy else celpy_runners(expr, data)
        if runners:
            per_event = best_us(runners[0], repeats=3, budget=args.budget)
            engine = best_us(runners[1], repeats=3, budget=args.budget)
            ref = f"{per_event:13.1f} {engine:13.1f}"
        else:
            ref = f"{'n/a':>13} {'n/a':>13}"
        shown = expr if len(expr) <= 58 else expr[:55] + "..."
        print(f"{shown:<58} {ours:8.2f} {lam:9.2f} {ratio:5.1f}x {ref}")
    print(f"median ratio ours/lambda: {statistics.median(ratios):.1f}x")
    print("cel-python µs includes converting the activation per event (json_to_cel of the")
    print("variables the expression reads); '(engine only)' reuses one converted activation.")


if __name__ == "__main__":
    main()
