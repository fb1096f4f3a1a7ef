"""Loading manifests: files and folders in, validated resources and problems out.

The loader reads ``*.yaml``, ``*.yml`` and ``*.json`` recursively, every
document of a multi-document file, and accepts both ``herald.dev/v1alpha1`` and
``argoproj.io/v1alpha1``. Kinds that are not ours (a Workflow next to a Sensor
shares its ``argoproj.io`` apiVersion; RBAC, ConfigMaps, ...) are skipped with a
note. Every problem is reported as ``file#doc: spec.path: reason`` with the
manifest's own (camelCase) field names; nothing stops at the first error.

An unreadable path is an :class:`OSError`-like :class:`LoadIOError` (the CLI
exits 2); invalid content is a list of problems (the CLI exits 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bus.spec import EventBusSpec
from eventsources import spec as es_spec
from eventsources.spec import EventSourceSpec
from herald.core.errors import ConfigError, HeraldError
from herald.core.model import HERALD_EXTENSION
from herald.core.suggestions import closest, field_names, model_at
from sensors import spec as sensor_spec
from sensors.exprs import SourceFilter, TranslationError
from sensors.filters import DependencyFilter
from sensors.spec import SensorSpec
from sensors.transform import compile_transform

API_VERSIONS = ("herald.dev/v1alpha1", "argoproj.io/v1alpha1")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

Kind = Literal["EventSource", "Sensor", "EventBus"]
Severity = Literal["error", "warning", "note"]

_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class LoadIOError(HeraldError):
    """A path could not be read (missing, unreadable, not a manifest file)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about one document: where, what, and how bad."""

    origin: str
    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.origin}: {self.path}" if self.path else self.origin
        if self.severity == "error":
            return f"{where}: {self.message}"
        return f"{where}: {self.severity}: {self.message}"


class ObjectMeta(BaseModel):
    """The parts of Kubernetes ``metadata`` a manifest may carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The resource's name (a Kubernetes name).")
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    generate_name: str | None = Field(default=None, alias="generateName")
    uid: str | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")
    generation: int | None = None
    creation_timestamp: Any = Field(default=None, alias="creationTimestamp")
    deletion_timestamp: Any = Field(default=None, alias="deletionTimestamp")
    deletion_grace_period_seconds: int | None = Field(
        default=None, alias="deletionGracePeriodSeconds"
    )
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = Field(default=None, alias="ownerReferences")
    managed_fields: list[dict[str, Any]] | None = Field(default=None, alias="managedFields")

    @field_validator("name")
    @classmethod
    def _k8s_name(cls, value: str) -> str:
        if len(value) > 253 or not _K8S_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid Kubernetes name: lowercase letters, digits, "
                "'-' and '.', starting and ending with a letter or digit"
            )
        return value


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: ObjectMeta
    status: dict[str, Any] | None = Field(default=None, description="Ignored on input.")


class EventSourceManifest(_Envelope):
    """An EventSource resource."""

    spec: EventSourceSpec


class SensorManifest(_Envelope):
    """A Sensor resource."""

    spec: SensorSpec


class EventBusManifest(_Envelope):
    """An EventBus resource."""

    spec: EventBusSpec


_MODELS: dict[str, type[_Envelope]] = {
    "EventSource": EventSourceManifest,
    "Sensor": SensorManifest,
    "EventBus": EventBusManifest,
}


@dataclass(frozen=True, slots=True)
class Resource:
    """One valid resource, with where it came from."""

    kind: Kind
    name: str
    namespace: str | None
    api_version: str
    origin: str
    manifest: EventSourceManifest | SensorManifest | EventBusManifest


@dataclass(slots=True)
class LoadResult:
    """Resources that validated, and every problem found on the way."""

    resources: list[Resource] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def of_kind(self, kind: Kind) -> list[Resource]:
        return [r for r in self.resources if r.kind == kind]


def manifest_files(paths: Sequence[Path]) -> list[Path]:
    """Every manifest file under ``paths``, in a stable order; raises LoadIOError."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES
            )
            out.extend(found)
        elif path.is_file():
            out.append(path)
        elif path.exists():
            raise LoadIOError(f"{path}: not a regular file or directory")
        else:
            raise LoadIOError(f"{path}: no such file or directory")
    return out


def load_paths(paths: Sequence[Path], *, argo: bool = False) -> LoadResult:
    """Load and validate every manifest under ``paths`` (files or folders).

    With ``argo``, also report what Argo Events would not accept as it is.
    """
    result = LoadResult()
    for file in manifest_files(paths):
        result.files += 1
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            result.problems.append(Problem(str(file), "", "not UTF-8 text"))
            continue
        except OSError as e:
            raise LoadIOError(f"{file}: {e.strerror}") from e
        load_text(text, str(file), result)
    _check_unique(result)
    for res in result.resources:
        result.problems.extend(compile_checks(res))
        if argo:
            result.problems.extend(argo_problems(res))
    cross_check(result)
    return result


def load_text(text: str, filename: str, result: LoadResult | None = None) -> LoadResult:
    """Load every document of one file's text into ``result`` (or a new one)."""
    result = result if result is not None else LoadResult()
    for index, doc in _documents(text, filename, result):
        _load_document(doc, f"{filename}#{index}", result)
    return result


def _documents(text: str, filename: str, result: LoadResult) -> Iterator[tuple[int, Any]]:
    index = 0
    try:
        for doc in yaml.load_all(text, Loader=_StrictLoader):
            index += 1
            if doc is None:
                continue
            yield index, doc
    except yaml.YAMLError as e:
        result.problems.append(
            Problem(f"{filename}#{index + 1}", "", f"not valid YAML: {_yaml_reason(e)}")
        )


def _load_document(doc: Any, origin: str, result: LoadResult) -> None:
    if not isinstance(doc, dict):
        result.problems.append(Problem(origin, "", "a manifest must be a mapping (an object)"))
        return
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if kind == "List" and isinstance(doc.get("items"), list):
        for i, item in enumerate(doc["items"]):
            _load_document(item, f"{origin}.items[{i}]", result)
        return
    if not isinstance(api_version, str) or not isinstance(kind, str):
        result.problems.append(
            Problem(origin, "", "not a Kubernetes manifest: apiVersion and kind are required")
        )
        return
    if kind not in _MODELS or api_version not in API_VERSIONS:
        if api_version == API_VERSIONS[0]:
            result.problems.append(
                Problem(origin, "kind", f"{kind!r} is not a Herald kind ({', '.join(_MODELS)})")
            )
        else:
            result.problems.append(
                Problem(origin, "", f"skipped: {api_version} {kind} is not a Herald kind", "note")
            )
        return
    try:
        manifest = _MODELS[kind].model_validate(doc)
    except ValidationError as e:
        problems = validation_problems(e, _MODELS[kind])
        result.problems.extend(Problem(origin, p, m) for p, m in problems)
        return
    assert isinstance(manifest, EventSourceManifest | SensorManifest | EventBusManifest)
    for path, message in _deprecations(manifest):
        result.problems.append(Problem(origin, path, message, "warning"))
    result.resources.append(
        Resource(
            kind=kind,  # type: ignore[arg-type]  # checked against _MODELS above
            name=manifest.metadata.name,
            namespace=manifest.metadata.namespace,
            api_version=api_version,
            origin=origin,
            manifest=manifest,
        )
    )


def _deprecations(
    manifest: EventSourceManifest | SensorManifest | EventBusManifest,
) -> list[tuple[str, str]]:
    if isinstance(manifest, EventSourceManifest):
        return list(es_spec.deprecations(manifest.spec))
    if isinstance(manifest, SensorManifest):
        return list(sensor_spec.deprecations(manifest.spec))
    return []


def _check_unique(result: LoadResult) -> None:
    seen: dict[tuple[str, str | None, str], Resource] = {}
    for res in result.resources:
        key = (res.kind, res.namespace, res.name)
        if key in seen:
            result.problems.append(
                Problem(
                    res.origin,
                    "metadata.name",
                    f"{res.kind} {res.name!r} is also defined at {seen[key].origin}",
                )
            )
        else:
            seen[key] = res


def compile_checks(res: Resource) -> list[Problem]:
    """Errors that only compiling shows: EventSource filters, dependency filters, transforms."""
    problems: list[Problem] = []
    manifest = res.manifest
    if isinstance(manifest, EventSourceManifest):
        for kind, name, config in manifest.spec.events():
            flt = getattr(config, "filter", None)
            if flt is None:
                continue
            try:
                SourceFilter(flt.expression)
            except TranslationError as e:
                path = f"spec.{kind}.{name}.filter.expression"
                problems.append(Problem(res.origin, path, e.reason))
    elif isinstance(manifest, SensorManifest):
        for i, dep in enumerate(manifest.spec.dependencies):
            try:
                DependencyFilter(dep)
                if dep.transform is not None:
                    compile_transform(dep.transform)
            except ConfigError as e:
                problems.append(Problem(res.origin, f"spec.dependencies[{i}].{e.path}", e.reason))
            except ImportError as e:
                problems.append(Problem(res.origin, f"spec.dependencies[{i}]", str(e), "warning"))
    return problems


def argo_problems(res: Resource) -> list[Problem]:
    """What stops ``res`` from running unchanged on Argo Events (``herald validate --argo``).

    Argo Events needs ``apiVersion: argoproj.io/v1alpha1``, and it silently drops
    fields it does not know, so every Herald extension that is set is reported.
    """
    problems: list[Problem] = []
    if res.api_version != "argoproj.io/v1alpha1":
        problems.append(
            Problem(
                res.origin,
                "apiVersion",
                f"Argo Events needs argoproj.io/v1alpha1, not {res.api_version} "
                "(herald convert --to argo rewrites it)",
            )
        )
    for path in _extensions(res.manifest.spec, "spec"):
        problems.append(
            Problem(
                res.origin,
                path,
                "a Herald extension that Argo Events does not have (it would drop it silently)",
            )
        )
    return problems


def _extensions(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        for name in value.model_fields_set:
            info = fields.get(name)
            if info is None:
                continue
            child = f"{path}.{info.alias or name}"
            if (info.description or "").startswith(HERALD_EXTENSION):
                yield child
                continue
            yield from _extensions(getattr(value, name), child)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _extensions(item, format_path([path, str(key)]))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _extensions(item, f"{path}[{i}]")


def cross_check(result: LoadResult) -> None:
    """Warn about sensor dependencies that name a loaded EventSource's missing event."""
    events: dict[str, set[str]] = {}
    for res in result.of_kind("EventSource"):
        assert isinstance(res.manifest, EventSourceManifest)
        events[res.name] = set(es_spec.event_names(res.manifest.spec))
    for res in result.of_kind("Sensor"):
        assert isinstance(res.manifest, SensorManifest)
        for i, dep in enumerate(res.manifest.spec.dependencies):
            names = events.get(dep.event_source_name)
            if names is not None and dep.event_name not in names:
                result.problems.append(
                    Problem(
                        res.origin,
                        f"spec.dependencies[{i}].eventName",
                        f"EventSource {dep.event_source_name!r} has no event "
                        f"{dep.event_name!r} (it has: {', '.join(sorted(names))}); "
                        "this dependency will never match",
                        "warning",
                    )
                )


# --- turning pydantic errors into manifest paths -----------------------------------------

_TYPE_TAG = re.compile(
    r"^(int|str|float|bool|bytes|none|list\[.*\]|dict\[.*\]|[a-z-]+\[.*\]|[A-Z][A-Za-z0-9]*)$"
)


def validation_problems(
    error: ValidationError, model: type[BaseModel] | None = None
) -> list[tuple[str, str]]:
    """(path, reason) pairs for a pydantic error, paths in manifest spelling.

    Union branches are folded into one message per path, and pydantic's type
    tags (``int``, ``function-after[...]``, model names) are dropped from paths.
    With the ``model`` that was validated, an unknown field that no spec
    explained already gets a "did you mean" when a known key is close to it.
    """
    merged: dict[str, list[str]] = {}
    for err in error.errors(include_url=False):
        loc = list(err["loc"])
        if err["type"] != "extra_forbidden":
            loc = [p for p in loc if not (isinstance(p, str) and _TYPE_TAG.match(p))]
        path = format_path(loc)
        reason = _reason(err, model)
        bucket = merged.setdefault(path, [])
        if reason not in bucket:
            bucket.append(reason)
    return [(path, " or ".join(reasons)) for path, reasons in merged.items()]


def format_path(loc: Iterable[int | str]) -> str:
    """``['spec', 'triggers', 0, 'template']`` -> ``spec.triggers[0].template``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _guess(model: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    """The known key an unknown one at ``loc`` most likely meant, if any is close."""
    if not loc or not isinstance(loc[-1], str):
        return None
    owner = model_at(model, loc[:-1])
    if owner is None:
        return None
    return closest(loc[-1], field_names(owner), cutoff=_SIMILAR_ENOUGH, ignore_case=True)


_SIMILAR_ENOUGH = 0.75
"""How similar (difflib's ratio, case ignored) a known key must be to be suggested."""


def _reason(err: Any, model: type[BaseModel] | None = None) -> str:
    kind, msg = err["type"], str(err["msg"])
    if kind == "extra_forbidden":
        for prefix in ("Extra inputs are not permitted: ", "Extra inputs are not permitted; "):
            if msg.startswith(prefix):
                return "unknown field: " + msg[len(prefix) :]
        if msg == "Extra inputs are not permitted":
            guess = _guess(model, err["loc"]) if model is not None else None
            if guess is not None:
                return f"unknown field: did you mean {guess!r}?"
            return (
                "unknown field (not part of the schema; check its spelling and where it is placed)"
            )
    if kind == "missing" and msg == "Field required":
        return "required field is missing"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    return msg


# --- strict YAML ------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return dict(loader.construct_pairs(node, deep=True))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_reason(e: yaml.YAMLError) -> str:
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"{e.problem or e.context}{where}"
    return str(e)
