"""`herald test`: events through sensors without a cluster, every decision explained."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from herald.cli import main

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "examples" / "quickstart"

SENSOR = """\
apiVersion: herald.dev/v1alpha1
kind: Sensor
metadata: {name: pair}
spec:
  dependencies:
    - {name: build-ok, eventSourceName: ci, eventName: builds,
       filters: {data: [{path: body.status, type: string, value: ["^success$"]}]}}
    - {name: approved, eventSourceName: ci, eventName: approvals}
  triggers:
    - template:
        name: deploy
        conditions: "build-ok && approved"
        http:
          url: http://deploy.invalid/run
          payload:
            - src: {dependencyName: build-ok, dataKey: body.commit}
              dest: commit
            - src: {dependencyName: approved, dataKey: body.by}
              dest: approver
"""


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["test", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _write(path: Path, docs: list[dict[str, Any]]) -> str:
    path.write_text("\n".join(json.dumps(d) for d in docs))
    return str(path)


def test_a_matching_order_would_fire_and_shows_the_payload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = {
        "eventSourceName": "shop",
        "eventName": "orders",
        "body": {"id": "A-1", "status": "paid", "total": 250, "customer": {"email": "a@b.c"}},
    }
    code, out, _ = _run(capsys, str(QUICKSTART), "--event", _write(tmp_path / "e.json", [event]))
    assert code == 0
    assert "dependency order: matched" in out
    assert "trigger notify: fires" in out
    assert 'payload:  {"order":"A-1","total":250,"customer":"a@b.c"}' in out


def test_a_filtered_event_exits_1_and_says_which_clause_failed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"id": "A-2", "status": "open", "total": 5}'))
    code, out, _ = _run(capsys, str(QUICKSTART), "--as", "shop/orders")
    assert code == 1
    assert "dependency order: filtered out" in out
    assert "fail  cel: saw false" in out


def test_events_apply_in_order_and_conditions_hold_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sensor.yaml").write_text(SENSOR)
    events = [
        {
            "eventSourceName": "ci",
            "eventName": "builds",
            "body": {"status": "success", "commit": "c1"},
        },
        {
            "eventSourceName": "ci",
            "eventName": "builds",
            "body": {"status": "failed", "commit": "c2"},
        },
        {"eventSourceName": "ci", "eventName": "approvals", "body": {"by": "ada"}},
    ]
    code, out, _ = _run(
        capsys,
        str(tmp_path / "sensor.yaml"),
        "--json",
        "--event",
        _write(tmp_path / "events.jsonl", events),
    )
    assert code == 0
    reports = json.loads(out)
    assert [r["triggers"][0]["outcome"] for r in reports] == ["waiting", "not met", "fires"]
    failed = reports[1]["dependencies"][0]["clauses"][0]
    assert failed["passed"] is False
    assert failed["seen"] == "failed"
    assert reports[2]["triggers"][0]["payload"] == {"commit": "c1", "approver": "ada"}
    assert reports[2]["triggers"][0]["rendered"]["url"] == "http://deploy.invalid/run"


def test_cloudevents_are_read_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sensor.yaml").write_text(SENSOR)
    cloud_events = [
        {
            "specversion": "1.0",
            "id": "b-1",
            "source": "ci",
            "type": "webhook",
            "subject": "builds",
            "data": {"body": {"status": "success", "commit": "x"}},
        },
        {
            "specversion": "1.0",
            "id": "a-1",
            "source": "ci",
            "type": "webhook",
            "subject": "approvals",
            "data": {"body": {"by": "bob"}},
        },
    ]
    path = tmp_path / "ce.yaml"
    path.write_text("\n---\n".join(json.dumps(c) for c in cloud_events))
    code, out, _ = _run(capsys, str(tmp_path / "sensor.yaml"), "--event", str(path))
    assert code == 0
    assert "event 1: ci/builds (type webhook, id b-1)" in out
    assert "trigger deploy: fires" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"just": "a payload"}', "--as EVENTSOURCE/EVENT"),
        ("{not json: [", "neither JSON"),
        ('{"eventSourceName": "shop"}', "must both be set"),
    ],
)
def test_unusable_events_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    (tmp_path / "e.json").write_text(content)
    code, _, err = _run(capsys, str(QUICKSTART), "--event", str(tmp_path / "e.json"))
    assert code == 2
    assert message in err


def test_nothing_fires_without_fire(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sensor.yaml").write_text(SENSOR)
    events = [
        {
            "eventSourceName": "ci",
            "eventName": "builds",
            "body": {"status": "success", "commit": "c"},
        },
        {"eventSourceName": "ci", "eventName": "approvals", "body": {"by": "ada"}},
    ]
    code, out, _ = _run(
        capsys, str(tmp_path / "sensor.yaml"), "--event", _write(tmp_path / "e.jsonl", events)
    )
    assert code == 0
    assert "fired:" not in out  # deploy.invalid was never contacted


def test_headers_given_with_h_shape_a_bare_github_payload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = {"ref": "refs/heads/main", "after": "abc", "repository": {"full_name": "o/r"}}
    code, out, _ = _run(
        capsys,
        str(ROOT / "examples" / "github"),
        "--as",
        "github/code",
        "-H",
        "x-github-event=push",
        "--event",
        _write(tmp_path / "push.json", [payload]),
    )
    assert code == 0
    assert 'pass  data[0] headers.X-Github-Event: saw ["push"]' in out
    assert '"commit":"abc"' in out
