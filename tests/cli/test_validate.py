"""`herald validate`: every error as file#doc: path: reason, and honest exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from herald.cli import main
from herald.loader import load_paths, load_text

ROOT = Path(__file__).resolve().parents[2]

SENSOR = """\
apiVersion: {api}
kind: Sensor
metadata:
  name: s1
spec:
  dependencies:
    - name: dep-a
      eventSourceName: hooks
      eventName: deploy
  triggers:
    - template:
        name: t
        log: {{}}
"""

SOURCE = """\
apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata:
  name: hooks
spec:
  webhook:
    deploy:
      port: "12000"
      endpoint: /deploy
      method: POST
"""


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["validate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_examples_folder_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, str(ROOT / "examples"))
    assert code == 0, out
    assert out == ""
    assert "valid" in err


@pytest.mark.parametrize("api", ["argoproj.io/v1alpha1", "herald.dev/v1alpha1"])
def test_both_api_versions_load(api: str) -> None:
    result = load_text(SENSOR.format(api=api), "s.yaml")
    assert result.ok, result.problems
    assert [r.name for r in result.resources] == ["s1"]


def test_a_misspelled_field_fails_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = SENSOR.format(api="argoproj.io/v1alpha1").replace("eventName:", "evntName:")
    (tmp_path / "sensor.yaml").write_text(bad)
    code, out, _ = _run(capsys, str(tmp_path))
    assert code == 1
    lines = out.splitlines()
    assert f"{tmp_path / 'sensor.yaml'}#1: spec.dependencies[0].evntName: unknown field" in out
    assert any(
        line.startswith(f"{tmp_path / 'sensor.yaml'}#1: spec.dependencies[0].eventName: required")
        for line in lines
    )


def test_every_error_of_every_document_is_reported(tmp_path: Path) -> None:
    text = "\n---\n".join(
        [
            SOURCE.replace('port: "12000"', "port: 99999"),
            SENSOR.format(api="herald.dev/v1alpha1").replace("log: {}", "lgo: {}"),
        ]
    )
    (tmp_path / "all.yaml").write_text(text)
    result = load_paths([tmp_path])
    where = {(p.origin.rsplit("#", 1)[1], p.path) for p in result.errors}
    assert ("1", "spec.webhook.deploy.port") in where
    assert ("2", "spec.triggers[0].template.lgo") in where


def test_multi_document_files_json_and_folders_load_recursively(tmp_path: Path) -> None:
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / "nested" / "deeper" / "both.yml").write_text(
        SOURCE + "---\n" + SENSOR.format(api="argoproj.io/v1alpha1")
    )
    (tmp_path / "bus.json").write_text(
        '{"apiVersion": "herald.dev/v1alpha1", "kind": "EventBus", "metadata": {"name": "default"},'
        ' "spec": {"embedded": {"url": "memory://"}}}'
    )
    (tmp_path / "notes.txt").write_text("not a manifest")
    result = load_paths([tmp_path])
    assert result.ok, result.problems
    assert sorted((r.kind, r.name) for r in result.resources) == [
        ("EventBus", "default"),
        ("EventSource", "hooks"),
        ("Sensor", "s1"),
    ]
    assert result.files == 2


def test_kinds_that_are_not_ours_are_skipped_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "mixed.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nspec: {}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"
        + SENSOR.format(api="argoproj.io/v1alpha1")
    )
    result = load_paths([tmp_path])
    assert result.ok
    notes = [p for p in result.problems if p.severity == "note"]
    assert [n.origin.rsplit("#", 1)[1] for n in notes] == ["1", "2"]
    assert "Workflow is not a Herald kind" in notes[0].message


def test_an_unknown_kind_under_our_api_version_is_an_error() -> None:
    result = load_text(
        "apiVersion: herald.dev/v1alpha1\nkind: Sensr\nmetadata: {name: x}\n", "x.yaml"
    )
    assert [(p.path, p.severity) for p in result.problems] == [("kind", "error")]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a: [1, 2\n", "not valid YAML"),
        ("apiVersion: herald.dev/v1alpha1\napiVersion: x\n", "duplicate key 'apiVersion'"),
        ("- just\n- a list\n", "must be a mapping"),
        ("kind: Sensor\n", "apiVersion and kind are required"),
    ],
)
def test_malformed_documents_are_errors_not_crashes(text: str, reason: str) -> None:
    result = load_text(text, "bad.yaml")
    assert len(result.errors) == 1
    assert reason in result.errors[0].message


def test_duplicate_resource_names_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SOURCE)
    (tmp_path / "b.yaml").write_text(SOURCE)
    result = load_paths([tmp_path])
    assert [p.path for p in result.errors] == ["metadata.name"]
    assert "also defined at" in result.errors[0].message


def test_invalid_metadata_name_is_reported() -> None:
    result = load_text(SOURCE.replace("name: hooks", "name: Hooks_1"), "x.yaml")
    assert [p.path for p in result.errors] == ["metadata.name"]


def test_a_dependency_on_a_missing_event_of_a_loaded_source_warns(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(
        SOURCE + "---\n" + SENSOR.format(api="argoproj.io/v1alpha1").replace("deploy", "deplyo")
    )
    result = load_paths([tmp_path])
    assert result.ok
    warnings = [p for p in result.problems if p.severity == "warning"]
    assert [w.path for w in warnings] == ["spec.dependencies[0].eventName"]
    assert "will never match" in warnings[0].message


def test_missing_path_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, str(tmp_path / "nope"))
    assert code == 2
    assert "no such file or directory" in err


def test_the_console_script_help_and_exit_codes() -> None:
    exe = Path(sys.executable).with_name("herald")
    helped = subprocess.run([exe, "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0
    assert "validate" in helped.stdout
    assert subprocess.run([exe], capture_output=True, check=False).returncode == 2
    assert subprocess.run([exe, "frobnicate"], capture_output=True, check=False).returncode == 2
