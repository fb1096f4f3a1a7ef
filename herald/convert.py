"""``herald convert``: switch manifests between Herald's and Argo's apiVersion, nothing else.

Only the ``apiVersion`` value of EventSource, Sensor and EventBus documents is
rewritten, in place in the file's text, so comments, key order, quoting and
every other document (a Workflow next to a Sensor keeps ``argoproj.io``) stay
exactly as the user wrote them. The same files then serve both systems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from herald.loader import API_VERSIONS, manifest_files

TARGETS = {"herald": "herald.dev/v1alpha1", "argo": "argoproj.io/v1alpha1"}
_KINDS = frozenset({"EventSource", "Sensor", "EventBus"})


class ConvertError(ValueError):
    """A file that cannot be converted (not YAML); the message names it."""


@dataclass(frozen=True, slots=True)
class Converted:
    """One file: how many documents were rewritten, and its new text."""

    path: Path
    rewritten: int
    text: str


def convert_text(text: str, target: str, origin: str = "<text>") -> tuple[str, int]:
    """``text`` with our kinds' apiVersion set to ``target``; and how many changed."""
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise ConvertError(f"{origin}: not valid YAML: {e}") from None
    spans: list[tuple[int, int, str]] = []
    for doc in documents:
        if not isinstance(doc, yaml.MappingNode):
            continue
        values = {k.value: v for k, v in doc.value if isinstance(k, yaml.ScalarNode)}
        kind, api = values.get("kind"), values.get("apiVersion")
        if not isinstance(kind, yaml.ScalarNode) or not isinstance(api, yaml.ScalarNode):
            continue
        if kind.value not in _KINDS or api.value not in API_VERSIONS or api.value == target:
            continue
        start, end = api.start_mark.index, api.end_mark.index
        quote = text[start] if text[start] in "'\"" else ""
        spans.append((start, end, f"{quote}{target}{quote}"))
    for start, end, replacement in sorted(spans, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text, len(spans)


def convert_paths(paths: Sequence[Path], to: str) -> list[Converted]:
    """Convert every manifest file under ``paths``; the caller writes them."""
    target = TARGETS[to]
    out = []
    for path in manifest_files(paths):
        text = path.read_text(encoding="utf-8")
        new, count = convert_text(text, target, str(path))
        out.append(Converted(path, count, new))
    return out
