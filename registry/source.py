"""Read YAML declarations, keeping the line of every mapping and key.

PyYAML's C parser does the scanning; we only hook mapping construction to remember lines and
to refuse duplicate keys (PyYAML would silently keep the last one).

>>> doc = parse_yaml("a: 1\\nb:\\n  c: 2\\n", "x.yaml")
>>> doc.key_line("b"), doc["b"].line
(2, 3)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

try:  # the C loader where libyaml is available, the pure-Python one otherwise
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader


class LineDict(dict[str, Any]):
    """A mapping from a YAML file that knows its own line and the line of each key."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}

    def key_line(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence from a YAML file that knows the line of each item."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []

    def item_line(self, index: int) -> int:
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


class DuplicateKey(yaml.MarkedYAMLError):
    """A key repeated in one mapping."""

    def __init__(self, key: object, line: int):
        super().__init__(problem=f"duplicate key {key!r}")
        self.key = key
        self.line = line


class _Loader(_BaseLoader):
    def construct_yaml_map(self, node: MappingNode) -> Iterator[LineDict]:
        data = LineDict(node.start_mark.line + 1)
        yield data
        self.flatten_mapping(node)
        key_lines = data.key_lines
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=False)
            if not isinstance(key, str):
                key = str(key)
            if key in data:
                raise DuplicateKey(key, key_node.start_mark.line + 1)
            data[key] = self.construct_object(value_node, deep=True)
            key_lines[key] = key_node.start_mark.line + 1

    def construct_yaml_seq(self, node: SequenceNode) -> Iterator[LineList]:
        data = LineList(node.start_mark.line + 1)
        yield data
        data.extend(self.construct_object(child, deep=True) for child in node.value)
        data.item_lines = [child.start_mark.line + 1 for child in node.value]

    def construct_yaml_timestamp(self, node: ScalarNode) -> str:
        # Keep dates as the text the user wrote; the model parses them, with its own errors.
        return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_yaml_seq)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def parse_yaml(text: str, name: str = "<string>") -> Any:
    """Parse one YAML document into LineDict / LineList values.

    Raises ``yaml.YAMLError`` (with a mark) on malformed input and :class:`DuplicateKey`.
    """
    loader = _Loader(text)
    loader.name = name
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def error_line(exc: yaml.YAMLError) -> int:
    """The 1-based line a YAML error points at (0 when it carries no mark)."""
    if isinstance(exc, DuplicateKey):
        return exc.line
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else 0


def error_text(exc: yaml.YAMLError) -> str:
    if isinstance(exc, DuplicateKey):
        return f"duplicate key {exc.key!r}"
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    parts = [p for p in (context, problem) if p]
    return ", ".join(parts) if parts else str(exc).splitlines()[0]


FULL_WIDTH = {
    "：": ("full-width colon", ":"),
    "，": ("full-width comma", ","),
    "\u3000": ("full-width space", "a plain space"),
    "－": ("full-width hyphen-minus", "-"),
    "［": ("full-width bracket", "["),
    "］": ("full-width bracket", "]"),
    "｛": ("full-width brace", "{"),
    "｝": ("full-width brace", "}"),
}
"""Punctuation a Chinese input method types where YAML needs its ASCII twin."""


def full_width_cause(text: str, exc: yaml.YAMLError) -> tuple[int, str] | None:
    """When full-width punctuation on the erring line or just before it is the likely cause of a
    YAML error, its line and a message naming it; else None.

    YAML reads ``name： 税务局`` as one plain scalar and complains a line later that it "could not
    find expected ':'", so the lines up to three before the error are looked at too.
    """
    line = error_line(exc)
    if not line:
        return None
    lines = text.splitlines()
    for number in range(min(line, len(lines)), max(0, line - 4), -1):
        for char, (name, ascii_twin) in FULL_WIDTH.items():
            if char in lines[number - 1]:
                twin = f"'{ascii_twin}'" if len(ascii_twin) == 1 else ascii_twin
                said = error_text(exc)
                return (
                    number,
                    f"{name} '{char}' (U+{ord(char):04X}) where YAML needs {twin} (YAML then said: {said})",
                )
    return None


_OPENS_QUOTE = re.compile(r"""^\s*(?:-\s+)?[^\s#'"][^:#]*:\s+(?P<quote>["'])(?P<rest>.*)$""")


def unclosed_quote_cause(text: str, exc: yaml.YAMLError) -> tuple[int, str] | None:
    """When a quoted value left open earlier is the likely cause of a YAML error, its line and a
    message naming it; else None.

    A quoted scalar may run over several lines, so ``definition: "text`` without its closing quote
    swallows the lines after it and YAML complains where the quote finally closes, lines later.
    The lines from where YAML's context began (the mapping it was reading) up to the error are
    looked at for a value that opens a quote and does not close it on its line.

    >>> import yaml
    >>> text = 'a:\\n  b: "open\\n  c: 1\\n  d: "x"\\n'
    >>> try:
    ...     yaml.safe_load(text)
    ... except yaml.YAMLError as exc:
    ...     line, message = unclosed_quote_cause(text, exc)
    >>> line, message.split(",")[0]
    (2, 'the quoted value opened here (") is not closed on its line')
    """
    line = error_line(exc)
    context = getattr(exc, "context_mark", None)
    if not line:
        return None
    lines = text.splitlines()
    first = context.line + 1 if context is not None and context.line + 1 < line else max(1, line - 20)
    for number in range(first, min(line, len(lines) + 1)):
        match = _OPENS_QUOTE.match(lines[number - 1])
        if match is None:
            continue
        quote, rest = match["quote"], match["rest"]
        closed = rest.replace("''", "") if quote == "'" else re.sub(r"\\.", "", rest)
        if quote not in closed:
            return (
                number,
                f"the quoted value opened here ({quote}) is not closed on its line, so YAML reads on "
                f"until line {line}: close the quote (YAML then said: {error_text(exc)})",
            )
    return None
