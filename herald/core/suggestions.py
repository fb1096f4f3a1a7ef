"""Did you mean …? The known name a misspelt one most likely meant, and whose keys to look in.

Manifest models forbid unknown fields, so pydantic reports a misspelt key as an
unknown one at its path. The EventSource and Sensor specs turn that report
into a hint, and the Sensor does the same for dependency names: :func:`model_at`
finds the model that owns the key at a path, :func:`field_names` lists that
model's keys as a manifest spells them, and :func:`closest` picks the name the
user most likely meant, or none. How a hint is worded stays with each spec.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Union

from pydantic import BaseModel


def closest(word: str, options: Iterable[str], *, cutoff: float, ignore_case: bool) -> str | None:
    """The option that ``word`` most likely misspells, or ``None`` when none is close.

    An option equal to ``word`` but for case wins outright. Otherwise the most
    similar option by :mod:`difflib`'s ratio (0 to 1) wins, if it reaches
    ``cutoff``; with ``ignore_case`` the ratio is taken between lower-cased
    spellings, so that a mis-cased word with a typo still finds its option.
    Options that differ only in case stand for one another: the last listed
    is the one named.
    """
    listed = list(options)
    by_lower = {option.lower(): option for option in listed}
    lowered = word.lower()
    if lowered in by_lower:
        return by_lower[lowered]
    if ignore_case:
        found = difflib.get_close_matches(lowered, list(by_lower), n=1, cutoff=cutoff)
        return by_lower[found[0]] if found else None
    found = difflib.get_close_matches(word, listed, n=1, cutoff=cutoff)
    return found[0] if found else None


def field_names(model: type[BaseModel]) -> list[str]:
    """A model's keys as a manifest spells them (the alias where there is one)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def model_at(root: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model whose key the last element of ``loc`` would be, or ``None``.

    ``loc`` is a path below ``root`` as pydantic reports it, in manifest
    spelling: keys of models and maps, indexes of lists. The walk follows the
    field annotations through ``Optional``, unions, ``Annotated``, lists,
    tuples and dict values; where a union leaves more than one model at the
    end, there is no single owner and the answer is ``None``.
    """
    current: list[Any] = [root]
    for part in loc:
        following: list[Any] = []
        for annotation in current:
            origin = typing.get_origin(annotation)
            if isinstance(part, str) and _is_model(annotation):
                for name, info in annotation.model_fields.items():
                    if (info.alias or name) == part and info.annotation is not None:
                        following.extend(_alternatives(info.annotation))
            elif isinstance(part, str) and origin is dict:
                following.extend(_alternatives(typing.get_args(annotation)[1]))
            elif isinstance(part, int) and origin in (list, tuple):
                following.extend(_alternatives(typing.get_args(annotation)[0]))
        current = following
    models = [annotation for annotation in current if _is_model(annotation)]
    return models[0] if len(models) == 1 else None


def _is_model(annotation: Any) -> typing.TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _alternatives(annotation: Any) -> list[Any]:
    """The types a value of ``annotation`` may have: through ``Annotated`` and unions, not None."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _alternatives(typing.get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_alternatives(arg))
        return out
    return [annotation]
