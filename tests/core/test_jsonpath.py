"""gjson-style reads and sjson-style writes, as Argo manifests use them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.core.jsonpath import MISSING, PathError, get, set_path

DOC: dict[str, Any] = {
    "name": {"first": "Tom", "last": "Anderson"},
    "age": 37,
    "children": ["Sara", "Alex", "Jack"],
    "fav.movie": "Deer Hunter",
    "friends": [
        {"first": "Dale", "last": "Murphy", "age": 44, "nets": ["ig", "fb", "tw"]},
        {"first": "Roger", "last": "Craig", "age": 68, "nets": ["fb", "tw"]},
        {"first": "Jane", "last": "Murphy", "age": 47, "nets": ["ig", "tw"]},
    ],
    "headers": {"X-Github-Event": ["push"]},
    "ok": True,
    "nothing": None,
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("name.last", "Anderson"),
        ("age", 37),
        ("children", ["Sara", "Alex", "Jack"]),
        ("children.#", 3),
        ("children.1", "Alex"),
        ("child*.2", "Jack"),
        ("c?ildren.0", "Sara"),
        ("fav\\.movie", "Deer Hunter"),
        ("friends.#.first", ["Dale", "Roger", "Jane"]),
        ("friends.1.last", "Craig"),
        ('friends.#(last=="Murphy").first', "Dale"),
        ('friends.#(last=="Murphy")#.first', ["Dale", "Jane"]),
        ("friends.#(age>45)#.last", ["Craig", "Murphy"]),
        ("friends.#(age<=44).first", "Dale"),
        ('friends.#(first%"D*").last', "Murphy"),
        ('friends.#(first!%"D*").last', "Craig"),
        ('friends.#(nets.#(=="fb"))#.first', ["Dale", "Roger"]),
        ("friends.#(last==Murphy).age", 44),
        ("headers.X-Github-Event.0", "push"),
        ("headers.X-Github-Event", ["push"]),
        ("ok", True),
        ("nothing", None),
        ("name|first", "Tom"),
        ("name.@this.first", "Tom"),
    ],
)
def test_gjson_reads(path: str, expected: Any) -> None:
    assert get(DOC, path) == expected


@pytest.mark.parametrize(
    "path",
    ["nope", "name.middle", "children.5", "age.x", "friends.#(age>99).first", "children.-1"],
)
def test_paths_that_do_not_resolve_are_missing_not_errors(path: str) -> None:
    assert get(DOC, path) is MISSING


def test_unparseable_paths_raise_path_error() -> None:
    with pytest.raises(PathError):
        get(DOC, "")
    with pytest.raises(PathError):
        get(DOC, "friends.#(age>1")


@pytest.mark.parametrize(
    ("doc", "path", "value", "expected"),
    [
        ({}, "a.b", 1, {"a": {"b": 1}}),
        ({"a": {"b": 0, "c": 2}}, "a.b", 1, {"a": {"b": 1, "c": 2}}),
        ({}, "a.1", "x", {"a": [None, "x"]}),
        ({"a": [1]}, "a.-1", 2, {"a": [1, 2]}),
        ({"a": [1, 2]}, "a.0", 9, {"a": [9, 2]}),
        ({}, "a.:1", 3, {"a": {"1": 3}}),
        ({}, "x\\.y", 1, {"x.y": 1}),
        ({"a": "scalar"}, "a.b", 1, {"a": {"b": 1}}),
        (None, "k", "v", {"k": "v"}),
    ],
)
def test_sjson_writes(doc: Any, path: str, value: Any, expected: Any) -> None:
    assert set_path(copy.deepcopy(doc), path, value) == expected


# Keys that are numbers index arrays when writing ("-1" appends), so they are left to
# the table tests; everything else must read back as it was written.
_keys = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\\"), min_size=1).filter(
    lambda k: k != "-1" and not (k.isascii() and k.isdigit())
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_keys, kids, max_size=3),
    max_leaves=8,
)


def _escape(key: str) -> str:
    return "".join("\\" + c if c in ".|*?#@:\\()!=<>%" else c for c in key)


def test_indexes_far_past_the_end_are_refused_not_padded() -> None:
    with pytest.raises(PathError, match="past the end"):
        set_path({"a": []}, "a.99999999", 1)
    assert set_path({"a": []}, "a.:99999999", 1) == {"a": {"99999999": 1}}
    assert len(set_path({}, "a.1000", 1)["a"]) == 1001


@settings(max_examples=200, deadline=None)
@given(st.lists(_keys, min_size=1, max_size=4), _json)
def test_what_is_set_can_be_read_back(keys: list[str], value: Any) -> None:
    path = ".".join(_escape(k) for k in keys)
    doc = set_path({}, path, value)
    assert get(doc, path) == value
