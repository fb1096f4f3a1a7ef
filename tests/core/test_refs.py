"""Secret and ConfigMap refs resolve from mounted-volume-like folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from herald.core.errors import ConfigError, SecretError
from herald.core.refs import ConfigMapKeySelector, SecretKeySelector, SecretStore


def _write(root: Path, name: str, key: str, content: str) -> None:
    (root / name).mkdir(parents=True, exist_ok=True)
    (root / name / key).write_text(content)


def test_secret_resolves_from_name_key_file_dropping_one_trailing_newline(tmp_path: Path) -> None:
    _write(tmp_path / "s", "github-access", "token", "t0ken\n")
    _write(tmp_path / "s", "multi", "v", "a\n\n")
    store = SecretStore(secrets_dir=tmp_path / "s", configmaps_dir=tmp_path / "c")
    ref = SecretKeySelector.model_validate({"name": "github-access", "key": "token"})
    assert store.secret(ref) == "t0ken"
    assert store.secret(SecretKeySelector.model_validate({"name": "multi", "key": "v"})) == "a\n"
    assert store.secret_bytes(ref) == b"t0ken\n"


def test_configmap_resolves_from_its_own_folder(tmp_path: Path) -> None:
    _write(tmp_path / "c", "settings", "url", "http://x\n")
    store = SecretStore(secrets_dir=tmp_path / "s", configmaps_dir=tmp_path / "c")
    ref = ConfigMapKeySelector.model_validate({"name": "settings", "key": "url"})
    assert store.configmap(ref) == "http://x"


def test_missing_secret_names_the_ref_and_the_expected_file(tmp_path: Path) -> None:
    store = SecretStore(secrets_dir=tmp_path)
    ref = SecretKeySelector.model_validate({"name": "nope", "key": "token"})
    with pytest.raises(SecretError, match="'nope' key 'token' not found") as info:
        store.secret(ref)
    assert str(tmp_path / "nope" / "token") in str(info.value)
    assert isinstance(info.value, ConfigError)


def test_optional_missing_secret_is_none(tmp_path: Path) -> None:
    store = SecretStore(secrets_dir=tmp_path)
    ref = SecretKeySelector.model_validate({"name": "nope", "key": "k", "optional": True})
    assert store.secret(ref) is None
    assert store.secret_bytes(ref) is None


@pytest.mark.parametrize(
    "ref",
    [
        {"name": "../etc", "key": "passwd"},
        {"name": "ok", "key": "../../passwd"},
        {"name": "ok", "key": ".."},
        {"name": "Upper", "key": "k"},
        {"name": "ok"},
    ],
)
def test_refs_that_could_escape_the_folder_or_are_incomplete_are_rejected(
    ref: dict[str, str],
) -> None:
    with pytest.raises(ValidationError):
        SecretKeySelector.model_validate(ref)
