"""What a PromQL expression refers to: metric names, the labels its selectors match on, and the
labels it groups by. A small tokenizer, enough for the expressions Ledgerline writes (no PromQL
parser ships as a Python package); it fails loudly on a token it does not know."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*)
  | (?P<ident>[A-Za-z_:][\w:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^=<>(){}\[\],:@])
    """,
    re.VERBOSE,
)
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
# Words that are neither metrics nor functions: set operators, modifiers and constants.
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN"})


@dataclass
class References:
    metrics: set[str] = field(default_factory=set)
    # (metric or None for a bare `{...}` selector, label) for every label matcher.
    matchers: set[tuple[str | None, str]] = field(default_factory=set)
    grouping: set[str] = field(default_factory=set)


def _tokens(expr: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None:
            raise ValueError(f"cannot read PromQL at {expr[position:]!r} in {expr!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


def _matchers(tokens: list[tuple[str, str]], start: int, metric: str | None, found: References) -> int:
    """Reads `{label op "value", ...}` from the `{` at `start`; returns the index after `}`."""
    index = start + 1
    while tokens[index] != ("op", "}"):
        kind, text = tokens[index]
        if kind == "ident":
            found.matchers.add((metric, text))
            index += 3  # label, operator, string
        elif tokens[index] == ("op", ","):
            index += 1
        else:
            raise ValueError(f"unexpected {text!r} in a label matcher")
    return index + 1


def references(expr: str) -> References:
    tokens = _tokens(expr)
    found = References()
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        if kind == "ident" and text in GROUPING and following == ("op", "("):
            index += 2
            while tokens[index] != ("op", ")"):
                if tokens[index][0] == "ident":
                    found.grouping.add(tokens[index][1])
                index += 1
            index += 1
        elif kind == "ident" and (following == ("op", "(") or following[1] in GROUPING):
            index += 1  # a function, or an aggregation (`sum by (...) (...)` too)
        elif kind == "ident" and text in KEYWORDS:
            index += 1
        elif kind == "ident":
            found.metrics.add(text)
            index = _matchers(tokens, index + 1, text, found) if following == ("op", "{") else index + 1
        elif (kind, text) == ("op", "{"):
            index = _matchers(tokens, index, None, found)
        elif (kind, text) == ("op", "["):
            index = tokens.index(("op", "]"), index) + 1  # a range or subquery duration
        else:
            index += 1
    return found
