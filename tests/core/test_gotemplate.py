"""Go text/template + sprig: what Argo users write renders as Go renders it.

Expected outputs are Go's (text/template, fmt, encoding/json, sprig v3) for the
same template and input; where Herald differs on purpose the case says so.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.event import Event
from herald.core import gotemplate
from herald.core.errors import PermanentTriggerError
from herald.core.gotemplate import TemplateError, go_format_float, go_json
from triggers.params import TriggerParameterSource, resolve

INPUT: dict[str, Any] = {
    "body": {
        "action": "opened",
        "message": "hello world",
        "name": "Jane Doe",
        "number": 42,
        "ratio": 0.5,
        "id": 1234567.0,
        "draft": False,
        "labels": [{"name": "bug"}, {"name": "deploy"}],
        "nothing": None,
        "counts": {"b": 2, "a": 1},
        "empty": "",
        "ref": "refs/heads/main",
        "pull_request": {"number": 7, "head": {"sha": "0123456789abcdef"}},
        "html": "<b>&</b>",
    },
    "header": {"X-Github-Event": ["pull_request"]},
}


def render(text: str, data: Any = None) -> str:
    return gotemplate.compile(text).render({"Input": INPUT if data is None else data})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # fields, missing keys and nil, as text/template prints them
        ("{{ .Input.body.action }}", "opened"),
        ("{{.Input.body.action}}", "opened"),
        ("{{ .Input.body.missing }}", "<no value>"),
        ("{{ .Input.body.missing.deeper }}", "<no value>"),
        ("{{ .Input.body.nothing }}", "<no value>"),
        ("{{ .Input.body.number }} {{ .Input.body.ratio }}", "42 0.5"),
        ("{{ .Input.body.id }}", "1.234567e+06"),  # a float64, as Go prints it
        ("{{ .Input.body.draft }}", "false"),
        ("{{ .Input.body.labels }}", "[map[name:bug] map[name:deploy]]"),
        ("{{ .Input.body.counts }}", "map[a:1 b:2]"),
        ('{{ index .Input.header "X-Github-Event" 0 }}', "pull_request"),
        ('{{ index .Input.body "missing" }}', "<no value>"),
        ("{{ (index .Input.body.labels 1).name }}", "deploy"),
        ("{{ $.Input.body.action }}", "opened"),
        ("{{ . }}", "map[Input:map[a:1]]"),
        # trim markers and comments
        ("a  {{- .Input.body.action -}}  b", "aopenedb"),
        ("a {{- /* a comment */ -}} b", "ab"),
        ("a {{/* a comment */}} b", "a  b"),
        ("{{- .Input.body.action }}\n", "opened\n"),
        # pipelines and parentheses
        ("{{ .Input.body.action | upper | quote }}", '"OPENED"'),
        ("{{ .Input.body.message | title }}", "Hello World"),
        ("{{ .Input.body.name | nospace | lower }}-", "janedoe-"),
        ("{{ .Input.body.pull_request.head.sha | substr 0 7 }}", "0123456"),
        (
            "{{ .Input.body.pull_request.number }}-"
            "{{ .Input.body.pull_request.head.sha | substr 0 7 }}",
            "7-0123456",
        ),
        ('{{ printf "%s/%d" .Input.body.action (len .Input.body.labels) }}', "opened/2"),
        # control structures
        ('{{ if eq .Input.body.action "opened" }}new{{ else }}old{{ end }}', "new"),
        (
            '{{ if eq .Input.body.action "x" }}1'
            '{{ else if eq .Input.body.action "opened" }}2{{ end }}',
            "2",
        ),
        ("{{ if .Input.body.empty }}yes{{ else }}no{{ end }}", "no"),
        ("{{ if not .Input.body.draft }}ready{{ end }}", "ready"),
        ("{{ if and .Input.body.action .Input.body.number }}both{{ end }}", "both"),
        ('{{ or .Input.body.empty .Input.body.missing "fallback" }}', "fallback"),
        ("{{ and .Input.body.action .Input.body.number }}", "42"),
        ("{{ range .Input.body.labels }}{{ .name }};{{ end }}", "bug;deploy;"),
        (
            "{{ range $i, $l := .Input.body.labels }}{{ $i }}:{{ $l.name }} {{ end }}",
            "0:bug 1:deploy ",
        ),
        ("{{ range $k, $v := .Input.body.counts }}{{ $k }}={{ $v }},{{ end }}", "a=1,b=2,"),
        ("{{ range .Input.body.missing }}x{{ else }}none{{ end }}", "none"),
        ("{{ range $i := 3 }}{{ $i }}{{ end }}", "012"),
        (
            '{{ range .Input.body.labels }}{{ if eq .name "bug" }}{{ continue }}{{ end }}'
            "{{ .name }}{{ end }}",
            "deploy",
        ),
        ("{{ range .Input.body.labels }}{{ .name }}{{ break }}{{ end }}", "bug"),
        ("{{ with .Input.body.pull_request }}#{{ .number }}{{ end }}", "#7"),
        ("{{ with .Input.body.missing }}x{{ else }}none{{ end }}", "none"),
        ("{{ with .Input.body.missing }}x{{ else with .Input.body.number }}{{ . }}{{ end }}", "42"),
        ("{{ $n := .Input.body.number }}{{ $n }} {{ $n = 5 }}{{ $n }}", "42 5"),
        (
            '{{ define "label" }}<{{ .name }}>{{ end }}{{ range .Input.body.labels }}'
            '{{ template "label" . }}{{ end }}',
            "<bug><deploy>",
        ),
        ('{{ block "b" .Input.body.number }}[{{ . }}]{{ end }}', "[42]"),
        # comparisons (an int and a float compare by value: Go refuses the pair)
        ("{{ eq .Input.body.number 42 }} {{ eq .Input.body.number 42.0 }}", "true true"),
        ('{{ eq .Input.body.action "a" "opened" }}', "true"),
        (
            '{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1.5 1 }} {{ ge "b" "a" }} {{ ne 1 2 }}',
            "true true true true true",
        ),
        ("{{ eq .Input.body.missing nil }} {{ eq .Input.body.action nil }}", "true false"),
        # literals
        (
            "{{ 1.0 }} {{ 1e3 }} {{ 0x1F }} {{ 'a' }} {{ -3 }} {{ true }} {{ `raw\\n` }}",
            "1 1000 31 97 -3 true raw\\n",
        ),
        ('{{ "tab\\there" }}', "tab\there"),
        # print family
        ('{{ print 1 2 "a" "b" 3 }}', "1 2ab3"),
        ('{{ println "a" 1 }}', "a 1\n"),
        (
            '{{ printf "%v|%5s|%-5s|%05d|%.2f|%q|%t|%x" "v" "r" "l" 42 3.14159 "q" true 255 }}',
            'v|    r|l    |00042|3.14|"q"|true|ff',
        ),
        ('{{ printf "%d" "x" }}', "%!d(string=x)"),
        ('{{ printf "%s|%d|%v" true nil nil }}', "%!s(bool=true)|%!d(<nil>)|<nil>"),
        ('{{ printf "%s %s" "only" }}', "only %!s(MISSING)"),
        ('{{ html .Input.body.html }} {{ urlquery "a b&c" }}', "&lt;b&gt;&amp;&lt;/b&gt; a+b%26c"),
    ],
)
def test_text_template_semantics(text: str, expected: str) -> None:
    data = {"a": 1} if text == "{{ . }}" else None
    if data is not None:
        assert gotemplate.compile(text).render({"Input": data}) == expected
    else:
        assert render(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # strings
        (
            '{{ upper "abc" }} {{ lower "ABC" }} {{ title "hello big world" }}',
            "ABC abc Hello Big World",
        ),
        ('{{ trim "  x  " }}|{{ trimAll "-" "--x--" }}', "x|x"),
        (
            '{{ trimPrefix "refs/heads/" .Input.body.ref }} {{ trimSuffix ".git" "repo.git" }}',
            "main repo",
        ),
        (
            '{{ replace "o" "0" "foo" }} {{ contains "ell" "hello" }} {{ hasPrefix "he" "hello" }} '
            '{{ hasSuffix "lo" "hello" }}',
            "f00 true true true",
        ),
        ('{{ quote "a\\"b" 1 }} {{ squote "x" }}', '"a\\"b" "1" \'x\''),
        (
            '{{ substr 1 3 "hello" }} {{ substr 2 -1 "hello" }} '
            '{{ trunc 3 "hello" }} {{ trunc -2 "hello" }}',
            "el llo hel lo",
        ),
        (
            '{{ repeat 3 "ab" }} {{ nospace "a b c" }} {{ abbrev 5 "hello world" }}',
            "ababab abc he...",
        ),
        (
            '{{ kebabcase "FooBarBaz" }} {{ snakecase "FooBarBaz" }} {{ camelcase "foo_bar_baz" }}',
            "foo-bar-baz foo_bar_baz FooBarBaz",
        ),
        ('{{ indent 2 "a\\nb" }}|{{ nindent 1 "x" }}', "  a\n  b|\n x"),
        (
            '{{ regexMatch "^op" .Input.body.action }} {{ regexFind "[0-9]+" "ab123c" }} '
            '{{ regexReplaceAll "(o)(p)" "opened" "${2}$1" }}',
            "true 123 poened",
        ),
        ('{{ cat "a" 1 nil "b" }}', "a 1 b"),
        # defaults
        (
            '{{ default "d" .Input.body.missing }} {{ default "d" .Input.body.empty }} '
            '{{ .Input.body.action | default "d" }}',
            "d d opened",
        ),
        (
            "{{ empty .Input.body.empty }} {{ empty 0 }} {{ empty .Input.body.labels }}",
            "true true false",
        ),
        ('{{ coalesce .Input.body.missing .Input.body.empty "c" }}', "c"),
        ('{{ ternary "yes" "no" true }}', "yes"),
        # encodings and hashes
        (
            '{{ b64enc "hello world" }} {{ b64dec "aGVsbG8gd29ybGQ=" }}',
            "aGVsbG8gd29ybGQ= hello world",
        ),
        (
            '{{ sha256sum "abc" }}',
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        ('{{ sha1sum "abc" }}', "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("{{ toJson .Input.body.counts }}", '{"a":1,"b":2}'),
        ("{{ .Input.body.labels | toJson }}", '[{"name":"bug"},{"name":"deploy"}]'),
        ("{{ toJson .Input.body.html }}", '"\\u003cb\\u003e\\u0026\\u003c/b\\u003e"'),
        ("{{ toPrettyJson .Input.body.counts }}", '{\n  "a": 1,\n  "b": 2\n}'),
        ('{{ (fromJson "{\\"a\\": [1, 2]}").a }}', "[1 2]"),
        # conversions and numbers
        (
            '{{ toString 42 }} {{ int "42" }} {{ int 4.9 }} {{ int64 "0x10" }} '
            '{{ float64 "1.5" }} {{ atoi "7" }}',
            "42 42 4 16 1.5 7",
        ),
        (
            "{{ add 1 2 3 }} {{ add1 .Input.body.number }} {{ sub 10 3 }} "
            "{{ mul 2 3 4 }} {{ div 7 2 }} "
            "{{ div -7 2 }} {{ mod -7 3 }}",
            "6 43 7 24 3 -3 -1",
        ),
        (
            "{{ max 1 5 3 }} {{ min 4 2 }} {{ addf 1.5 2 }} {{ mulf 1.5 2 }} "
            "{{ floor 1.7 }} {{ ceil 1.2 }} "
            "{{ round 2.555 2 }}",
            "5 2 3.5 3 1 2 2.56",
        ),
        # lists and dicts
        (
            '{{ list 1 "a" 2.5 }} {{ first (list 1 2) }} {{ last (list 1 2) }} '
            "{{ rest (list 1 2 3) }}",
            "[1 a 2.5] 1 2 [2 3]",
        ),
        (
            '{{ split "/" "a/b/c" }} {{ (split "/" "a/b/c")._1 }} {{ splitList "/" "a/b" }}',
            "map[_0:a _1:b _2:c] b [a b]",
        ),
        (
            '{{ join "," (list "a" 1 true) }} {{ has 2 (list 1 2) }} {{ uniq (list 1 1 2) }} '
            "{{ without (list 1 2 3) 2 }} {{ append (list 1) 2 }} {{ prepend (list 1) 0 }} "
            '{{ reverse (list 1 2) }} {{ sortAlpha (list "b" "a") }} {{ compact (list 1 "" 2) }}',
            "a,1,true true [1 2] [1 3] [1 2] [0 1] [2 1] [a b] [1 2]",
        ),
        (
            '{{ dict "a" 1 "b" "x" }} {{ get (dict "a" 1) "a" }}|{{ get (dict "a" 1) "z" }}|',
            "map[a:1 b:x] 1||",
        ),
        (
            '{{ hasKey .Input.body "number" }} {{ keys .Input.body.counts }} '
            "{{ values .Input.body.counts }}",
            "true [a b] [1 2]",
        ),
        (
            '{{ pick .Input.body.counts "a" }} {{ omit .Input.body.counts "a" }} '
            '{{ dig "head" "sha" "none" .Input.body.pull_request }} '
            '{{ dig "x" "y" "none" .Input.body }}',
            "map[a:1] map[b:2] 0123456789abcdef none",
        ),
        ("{{ until 3 }} {{ len (until 0) }}", "[0 1 2] 0"),
        # dates (UTC; Go layouts)
        ('{{ date "2006-01-02T15:04:05Z07:00" 1700000000 }}', "2023-11-14T22:13:20Z"),
        ('{{ date "Mon Jan 2 3:04PM MST 06" 1700000000 }}', "Tue Nov 14 10:13PM UTC 23"),
        (
            '{{ dateInZone "2006-01-02 15:04 -0700" 1700000000 "Europe/Berlin" }}',
            "2023-11-14 23:13 +0100",
        ),
        ('{{ toDate "2006-01-02" "2024-02-29" | date "Jan _2, 2006" }}', "Feb 29, 2024"),
        (
            '{{ unixEpoch (toDate "2006-01-02T15:04:05Z07:00" "2024-01-01T00:00:00Z") }}',
            "1704067200",
        ),
        ("{{ htmlDate 0 }}", "1970-01-01"),
    ],
)
def test_sprig_functions(text: str, expected: str) -> None:
    assert render(text) == expected


def test_now_and_date_format_the_current_time() -> None:
    before = datetime.now(UTC).strftime("%Y-%m-%d")
    out = render('{{ now | date "2006-01-02" }}')
    after = datetime.now(UTC).strftime("%Y-%m-%d")
    assert out in (before, after)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ .Input.body.action", "line 1, column 22: unclosed action"),
        ("{{ nosuchfunc }}", 'function "nosuchfunc" not defined'),
        ("{{ if .Input }}x", "unexpected EOF"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ $x }}", 'undefined variable "$x"'),
        ('{{ "a" | "b" }}', "non executable command in pipeline stage 2"),
        ("{{ break }}", "{{break}} outside {{range}}"),
        ("{{ (1 }}", "unclosed left paren"),
        ('{{ "unterminated }}', "unterminated quoted string"),
        ("{{ 1x }}", "bad number syntax"),
        ("{{/* never closed }}", "unclosed comment"),
        ("a\n{{ if }}", "line 2, column 7: missing value for if"),
        ("{{ .a.b.c", "unclosed action"),
        ("{{ " + "(" * 200 + "1" + ")" * 200 + " }}", "nested deeper"),
    ],
)
def test_parse_errors_say_where_and_what(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        gotemplate.compile(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ .Input.body.nothing.x }}", "nil pointer evaluating interface {}.x"),
        ("{{ .Input.body.action.x }}", "can't evaluate field x in type string"),
        ("{{ .Input.body.labels.x }}", "can't evaluate field x in type []interface {}"),
        ('{{ .Input.body.action "arg" }}', "action is not a method but has arguments"),
        ("{{ nil }}", "nil is not a command"),
        ("{{ 1 2 }}", "can't give argument to non-function 1"),
        ("{{ index .Input.body.labels 5 }}", "index out of range: 5"),
        ("{{ index .Input.body.nothing 0 }}", "index of untyped nil"),
        ("{{ upper .Input.body.number }}", "wrong type for value; expected string; got int"),
        ("{{ upper .Input.body.missing }}", "invalid value; expected string"),
        ("{{ lt .Input.body.action 1 }}", "incompatible types for comparison"),
        ("{{ eq .Input.body.labels .Input.body.labels }}", "non-comparable type"),
        ("{{ len .Input.body.number }}", "len of type int"),
        ("{{ printf }}", "wrong number of args for printf: want at least 1 got 0"),
        ("{{ substr 1 }}", "wrong number of args for substr: want 3 got 1"),
        ("{{ div 1 0 }}", "error calling div: runtime error: integer divide by zero"),
        ('{{ range "abc" }}{{ end }}', "range can't iterate over abc"),
        ('{{ template "nope" }}', 'no such template "nope"'),
    ],
)
def test_execution_errors_name_the_action(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(text)
    assert message in str(info.value)
    assert "line 1, column" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{{ define "a" }}{{ template "a" }}{{ end }}{{ template "a" }}', "maximum template depth"),
        ("{{ range $i := 100000000 }}{{ end }}", "steps"),
        ('{{ repeat 100000000 "abc" }}', "more than"),
        ('{{ range $i := 5000 }}{{ repeat 1000 "x" }}{{ end }}', "output exceeds"),
        ("{{ until 100000000 }}", "too large"),
    ],
)
def test_hostile_templates_hit_a_limit_instead_of_running_away(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(text)
    assert message in str(info.value)


def test_deep_data_is_refused_cleanly() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(TemplateError, match="nested too deeply"):
        gotemplate.compile("{{ .Input }}").render({"Input": deep})


def test_python_objects_are_never_reachable() -> None:
    class Secret:
        token = "s3cr3t"

    with pytest.raises(TemplateError, match="can't evaluate field token"):
        gotemplate.compile("{{ .Input.token }}").render({"Input": Secret()})


def test_templates_are_compiled_once_and_cached() -> None:
    assert gotemplate.compile("{{ .Input.x }}") is gotemplate.compile("{{ .Input.x }}")


def test_rendering_does_not_change_the_input() -> None:
    data = {"Input": {"l": [3, 1, 2], "m": {"a": 1}}}
    before = json.dumps(data, sort_keys=True)
    gotemplate.compile(
        "{{"
        ' append .Input.l 4 }}{{ sortAlpha .Input.l }}{{ omit .Input.m "a" }}{{ reverse .Input.l }}'
    ).render(data)
    assert json.dumps(data, sort_keys=True) == before


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.5, "0.5"),
        (100000.0, "100000"),
        (1000000.0, "1e+06"),
        (123456789.0, "1.23456789e+08"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e21, "1e+21"),
        (-2.5, "-2.5"),
        (-0.0, "-0"),
        (math.inf, "+Inf"),
        (math.nan, "NaN"),
    ],
)
def test_floats_print_as_go_prints_float64(value: float, text: str) -> None:
    assert go_format_float(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        ({"b": [1, None, True], "a": "x"}, '{"a":"x","b":[1,null,true]}'),
        ("é\u2028", '"é\\u2028"'),
    ],
)
def test_json_encodes_as_go_encoding_json(value: Any, text: str) -> None:
    assert go_json(value) == text


# ---------------------------------------------------------------- properties

_SCALARS = (
    st.text(max_size=20)
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
)


@settings(max_examples=150, deadline=None)
@given(
    path=st.lists(
        st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,7}", fullmatch=True), min_size=1, max_size=5
    ),
    value=_SCALARS,
)
def test_a_field_path_renders_the_value_as_go_prints_it(path: list[str], value: Any) -> None:
    data: Any = value
    for key in reversed(path):
        data = {key: data}
    text = "{{ .Input." + ".".join(path) + " }}"
    out = gotemplate.compile(text).render({"Input": data})
    if isinstance(value, bool):
        assert out == ("true" if value else "false")
    elif isinstance(value, int):
        assert out == str(value)
    elif isinstance(value, float):
        assert out == go_format_float(value)
        assert float(out) == value  # shortest form reads back exactly
    else:
        assert out == value


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200).filter(lambda t: "{{" not in t))
def test_text_without_actions_renders_unchanged(text: str) -> None:
    assert gotemplate.compile(text).render({}) == text


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**53), max_value=2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_to_json_reads_back_as_the_same_value(value: Any) -> None:
    out = gotemplate.compile("{{ toJson .Input }}").render({"Input": value})
    assert _floats(json.loads(out)) == _floats(value)


def _floats(value: Any) -> Any:
    """Numbers as floats: Go writes a whole float64 without a fraction."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [_floats(v) for v in value]
    return {k: _floats(v) for k, v in value.items()}


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=50))
def test_b64_round_trips_and_quote_reads_back_as_json(text: str) -> None:
    assert gotemplate.compile("{{ .Input | b64enc | b64dec }}").render({"Input": text}) == text
    quoted = gotemplate.compile("{{ quote .Input }}").render({"Input": text})
    if all(c.isprintable() or c == " " for c in text) and "\x7f" not in text:
        assert json.loads(quoted) == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}. $|()\"'`-+0123456789abcdefghijklmnopqrstuvwxyz:=,/*\n\t", max_size=60))
def test_fuzzed_text_either_renders_or_raises_template_error(text: str) -> None:
    try:
        tpl = gotemplate.Template(text)
    except TemplateError:
        return
    try:
        out = tpl.render({"Input": INPUT, "a": [1, {"b": None}]})
    except TemplateError:
        return
    assert isinstance(out, str)


# --------------------------------------------------- trigger parameter templates


def _event(data: Any) -> Event:
    return Event(
        id="ev-1",
        source="webhook",
        type="webhook",
        subject="example",
        data=data,
        time=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
    )


def _src(**fields: Any) -> TriggerParameterSource:
    return TriggerParameterSource.model_validate({"dependencyName": "dep", **fields})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # Argo's tutorial (docs/tutorials/02-parameterization.md) and examples
        ({"dataTemplate": "{{ .Input.body.message | title }}"}, "Hello World"),
        ({"contextTemplate": "{{ .Input.subject | title }}"}, "Example"),
        ({"dataTemplate": "{{ .Input.body.name | nospace | lower }}-"}, "janedoe-"),
        (
            {"dataTemplate": "Hi {{.Input.body.name}},\n\n\tHello There."},
            "Hi Jane Doe,\n\n\tHello There.",
        ),
        (
            {"contextTemplate": "{{ .Input.type }}/{{ .Input.source }}/{{ .Input.id }}"},
            "webhook/webhook/ev-1",
        ),
        # numbers and objects render as text, never raw
        ({"dataTemplate": "{{ .Input.body.number }}", "useRawData": True}, "42"),
        ({"dataTemplate": "{{ toJson .Input.body.counts }}"}, '{"a":1,"b":2}'),
        # template first, then key, then value
        ({"dataTemplate": "{{ .Input.body.action }}", "dataKey": "body.name"}, "opened"),
        ({"dataTemplate": "{{ .Input.body.missing }}", "dataKey": "body.name"}, "Jane Doe"),
        ({"dataTemplate": "{{ .Input.body.empty }}", "dataKey": "body.name"}, "Jane Doe"),
        ({"dataTemplate": "{{ .Input.body.nothing.x }}", "dataKey": "body.name"}, "Jane Doe"),
        ({"dataTemplate": "{{ .Input.body.missing }}", "value": "fallback"}, "fallback"),
        ({"dataTemplate": "{{ .Input.body.missing }}", "dataKey": "body.nope", "value": "v"}, "v"),
        # the data part wins over the context part, as in Argo
        ({"dataTemplate": "{{ .Input.body.action }}", "contextKey": "type"}, "opened"),
    ],
)
def test_parameter_templates_follow_argo(fields: dict[str, Any], expected: str) -> None:
    resolved = resolve(_src(**fields), {"dep": _event(INPUT)})
    assert resolved is not None
    assert resolved.text == expected
    assert resolved.value(True) == expected


def test_a_template_that_yields_nothing_without_fallback_is_a_permanent_error() -> None:
    with pytest.raises(PermanentTriggerError) as info:
        resolve(_src(dataTemplate="{{ .Input.body.missing }}"), {"dep": _event(INPUT)})
    assert "<no value>" in str(info.value)
    with pytest.raises(PermanentTriggerError) as info:
        resolve(_src(dataTemplate="{{ .Input.body.nothing.x }}"), {"dep": _event(INPUT)})
    assert "nil pointer" in str(info.value)


def test_a_template_of_a_missing_dependency_uses_value_or_is_skipped() -> None:
    assert resolve(_src(dataTemplate="{{ .Input.x }}"), {}) is None
    resolved = resolve(_src(dataTemplate="{{ .Input.x }}", value="v"), {})
    assert resolved is not None
    assert resolved.text == "v"
