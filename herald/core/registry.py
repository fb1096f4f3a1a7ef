"""Registries of adapters by spec field name, resolved lazily.

A family (event sources, triggers, buses) keeps a dict from the spec field name
(``"kafka"``) to ``"module:attribute"``; :func:`resolve` imports the module only
when that type is used, so importing the family loads no optional client.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from herald.core.errors import ConfigError


def resolve(registry: Mapping[str, str], kind: str, family: str) -> Any:
    """The attribute registered for ``kind``; ConfigError naming what can run instead."""
    target = registry.get(kind)
    if target is None:
        raise ConfigError(
            f"{family} type {kind!r} cannot run in this version of Herald "
            f"(runnable: {', '.join(sorted(registry))})"
        )
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
