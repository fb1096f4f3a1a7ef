"""Kubernetes-style references to secrets and ConfigMaps, and how they resolve.

Manifests name secrets as Kubernetes does (``{name, key}``). Outside Kubernetes
they resolve from files laid out like a mounted secret volume,
``<secrets dir>/<name>/<key>``; on Kubernetes the controller mounts each
referenced secret at that same layout, so one manifest works in both places.
This module is the one place that reads them. Values are never logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator

from herald.core.errors import SecretError
from herald.core.model import Spec

# A Kubernetes object name (DNS subdomain) and a secret data key.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


class _KeySelector(Spec):
    name: str = Field(description="Name of the Secret or ConfigMap.")
    key: str = Field(description="Key inside it.")
    optional: bool | None = Field(default=None, description="Resolve to nothing when absent.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} is not a valid Kubernetes name (lowercase DNS subdomain)")
        return value

    @field_validator("key")
    @classmethod
    def _valid_key(cls, value: str) -> str:
        if not _KEY.match(value) or value in {".", ".."}:
            raise ValueError(f"{value!r} is not a valid key (letters, digits, '-', '_', '.')")
        return value


class SecretKeySelector(_KeySelector):
    """``{name, key}`` of a Kubernetes Secret, as in ``corev1.SecretKeySelector``."""


class ConfigMapKeySelector(_KeySelector):
    """``{name, key}`` of a Kubernetes ConfigMap, as in ``corev1.ConfigMapKeySelector``."""


@dataclass(frozen=True, slots=True)
class SecretStore:
    """Resolves secret and ConfigMap refs from mounted-volume-like directories."""

    secrets_dir: Path = Path("secrets")
    configmaps_dir: Path = Path("configmaps")

    def secret(self, ref: SecretKeySelector) -> str | None:
        """The secret's value as text, one trailing newline dropped.

        Returns None only for an ``optional`` ref that is absent; otherwise a
        missing file raises :class:`SecretError` naming the ref (never the value).
        """
        return self._read(self.secrets_dir, ref, "secret")

    def secret_bytes(self, ref: SecretKeySelector) -> bytes | None:
        """The secret's raw bytes (for keys and certificates), unmodified."""
        path = self.secrets_dir / ref.name / ref.key
        try:
            return path.read_bytes()
        except FileNotFoundError:
            if ref.optional:
                return None
            raise SecretError(_missing("secret", ref, self.secrets_dir)) from None
        except OSError as e:
            raise SecretError(f"cannot read secret {ref.name}/{ref.key}: {e.strerror}") from e

    def configmap(self, ref: ConfigMapKeySelector) -> str | None:
        """The ConfigMap value as text, one trailing newline dropped."""
        return self._read(self.configmaps_dir, ref, "configmap")

    def _read(self, root: Path, ref: _KeySelector, kind: str) -> str | None:
        path = root / ref.name / ref.key
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if ref.optional:
                return None
            raise SecretError(_missing(kind, ref, root)) from None
        except UnicodeDecodeError as e:
            raise SecretError(f"{kind} {ref.name}/{ref.key} is not UTF-8 text") from e
        except OSError as e:
            raise SecretError(f"cannot read {kind} {ref.name}/{ref.key}: {e.strerror}") from e
        return text[:-1] if text.endswith("\n") else text


def _missing(kind: str, ref: _KeySelector, root: Path) -> str:
    return (
        f"{kind} {ref.name!r} key {ref.key!r} not found: expected a file at "
        f"{root / ref.name / ref.key} (set --{kind}s-dir, or mount the {kind} there)"
    )
