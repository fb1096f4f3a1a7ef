"""`herald convert` and `herald validate --argo`: one set of files for both systems."""

from __future__ import annotations

from pathlib import Path

import pytest

from herald.cli import main
from herald.convert import convert_text

MIXED = """\
# our sensor, next to an Argo Workflow that must keep its apiVersion
apiVersion: argoproj.io/v1alpha1   # trailing comment stays
kind: Sensor
metadata:
  name: s
spec:
  dependencies:
    - {name: d, eventSourceName: es, eventName: e}
  triggers:
    - template: {name: t, log: {}}
---
apiVersion: "argoproj.io/v1alpha1"
kind: Workflow
metadata: {generateName: wf-}
spec: {entrypoint: main}
---
{"apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus", "metadata": {"name": "default"},
 "spec": {"jetstream": {"version": "latest"}}}
"""


def test_only_our_kinds_change_and_nothing_else() -> None:
    text, count = convert_text(MIXED, "herald.dev/v1alpha1")
    assert count == 2
    expected = MIXED.replace(
        "apiVersion: argoproj.io/v1alpha1   # trailing",
        "apiVersion: herald.dev/v1alpha1   # trailing",
    ).replace(
        '{"apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus"',
        '{"apiVersion": "herald.dev/v1alpha1", "kind": "EventBus"',
    )
    assert text == expected
    back, count_back = convert_text(text, "argoproj.io/v1alpha1")
    assert (back, count_back) == (MIXED, 2)


def test_convert_rewrites_files_in_place_and_dry_run_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(MIXED)
    assert main(["convert", str(tmp_path), "--to", "herald", "--dry-run"]) == 0
    assert path.read_text() == MIXED
    assert "would rewrite 2" in capsys.readouterr().out
    assert main(["convert", str(tmp_path), "--to", "herald"]) == 0
    assert path.read_text().count("herald.dev/v1alpha1") == 2
    assert main(["validate", str(tmp_path)]) == 0


def test_validate_argo_reports_herald_only_things(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "s.yaml").write_text(
        """\
apiVersion: herald.dev/v1alpha1
kind: Sensor
metadata: {name: s}
spec:
  dependencies:
    - name: d
      eventSourceName: es
      eventName: e
      filters: {cel: 'body.x == 1'}
  triggers:
    - template: {name: t, log: {}}
"""
    )
    assert main(["validate", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["validate", "--argo", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "s.yaml#1: apiVersion: Argo Events needs argoproj.io/v1alpha1" in out
    assert "s.yaml#1: spec.dependencies[0].filters.cel: a Herald extension" in out


def test_the_examples_folder_says_what_is_herald_only(capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).resolve().parents[2]
    assert main(["validate", "--argo", str(root / "examples" / "webhook")]) == 0
    assert main(["validate", "--argo", str(root / "examples" / "quickstart")]) == 1
