"""Read a TOML file so that any later complaint about a value can name its file and line."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")

KeyPath = tuple[str | int, ...]

_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_TABLE = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


class TomlError(Exception):
    """A problem with a value in a TOML file, located as precisely as the file allows."""

    def __init__(self, path: Path, key: str, message: str, line: int | None) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        self.path = path
        self.key = key
        self.message = message
        self.line = line


def _split_key(raw: str) -> list[str]:
    return [part.strip().strip("\"'") for part in raw.split(".")]


def _locate(text: str) -> dict[KeyPath, int]:
    """Line numbers of tables, array-of-table entries and keys, by their key path."""
    lines: dict[KeyPath, int] = {}
    prefix: KeyPath = ()
    counters: dict[KeyPath, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if m := _ARRAY_TABLE.match(line):
            name = tuple(_split_key(m.group(1)))
            index = counters.get(name, 0)
            counters[name] = index + 1
            prefix = (*name, index)
            lines.setdefault(prefix, number)
        elif m := _TABLE.match(line):
            prefix = tuple(_split_key(m.group(1)))
            lines.setdefault(prefix, number)
        elif m := _KEY.match(line):
            lines.setdefault((*prefix, *_split_key(m.group(1))), number)
    return lines


@dataclass(frozen=True)
class TomlDocument:
    path: Path
    data: dict[str, Any]
    lines: Mapping[KeyPath, int]

    @classmethod
    def load(cls, path: Path) -> TomlDocument:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TomlError(path, "", f"cannot read the file: {exc.strerror}", None) from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"\(at line (\d+)", str(exc))
            raise TomlError(
                path, "", f"not valid TOML: {exc}", int(m.group(1)) if m else None
            ) from exc
        return cls(path, data, _locate(text))

    def line_of(self, key: KeyPath) -> int | None:
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return None

    def fail(self, key: KeyPath, message: str) -> NoReturn:
        dotted = ".".join(str(k) if isinstance(k, str) else f"[{k}]" for k in key)
        raise TomlError(self.path, dotted.replace(".[", "["), message, self.line_of(key))

    def table(self, key: KeyPath) -> Table:
        return Table(self, key, self._value(key, {}))

    def _value(self, key: KeyPath, default: Any) -> Any:
        node: Any = self.data
        for part in key:
            if isinstance(part, int) or (isinstance(node, dict) and part in node):
                node = node[part]
            else:
                return default
        return node


@dataclass(frozen=True)
class Table:
    """A table of a TomlDocument whose reads check types and remember which keys were used."""

    doc: TomlDocument
    key: KeyPath
    values: Any

    def __post_init__(self) -> None:
        if not isinstance(self.values, dict):
            self.doc.fail(self.key, "must be a table")

    def _get(self, name: str, kind: type | tuple[type, ...], default: Any, what: str) -> Any:
        if name not in self.values:
            if default is _REQUIRED:
                self.doc.fail((*self.key, name), "is required")
            return default
        value = self.values[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            self.doc.fail((*self.key, name), f"must be {what}, not {type(value).__name__}")
        return value

    def text(self, name: str, default: str | None = None) -> str:
        value: str = self._get(name, str, _REQUIRED if default is None else default, "a string")
        return value

    def optional_text(self, name: str) -> str | None:
        value: str | None = self._get(name, str, None, "a string")
        return value

    def integer(self, name: str, default: int | None = None, *, minimum: int | None = None) -> int:
        value: int = self._get(name, int, _REQUIRED if default is None else default, "an integer")
        self._at_least(name, value, minimum)
        return value

    def number(self, name: str, default: float, *, minimum: float | None = None) -> float:
        value: float = float(self._get(name, (int, float), default, "a number"))
        self._at_least(name, value, minimum)
        return value

    def _at_least(self, name: str, value: float, minimum: float | None) -> None:
        if minimum is not None and value < minimum:
            self.doc.fail((*self.key, name), f"must be at least {minimum}")

    def flag(self, name: str, default: bool) -> bool:
        value: bool = self._get(name, bool, default, "true or false")
        return value

    def texts(self, name: str, default: list[str] | None = None) -> list[str]:
        value = self._get(name, list, _REQUIRED if default is None else default, "a list")
        for index, entry in enumerate(value):
            if not isinstance(entry, str):
                self.doc.fail((*self.key, name, index), "must be a string")
        return list(value)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value: str = self.text(name, default)
        if value not in choices:
            self.doc.fail((*self.key, name), f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def path(self, name: str, default: str | None = None) -> Path:
        value = Path(self.text(name, default))
        return value if value.is_absolute() else (self.doc.path.parent / value).resolve()

    def sub(self, name: str) -> Table:
        return Table(self.doc, (*self.key, name), self._get(name, dict, {}, "a table"))

    def tables(self, name: str) -> list[Table]:
        """An array of tables (``[[name]]``)."""
        entries = self._get(name, list, [], "an array of tables")
        return [Table(self.doc, (*self.key, name, i), e) for i, e in enumerate(entries)]

    def named_tables(self, name: str) -> dict[str, Table]:
        """A table of tables (``[name.x]``, ``[name.y]``)."""
        outer = self._get(name, dict, {}, "a table")
        return {k: Table(self.doc, (*self.key, name, k), v) for k, v in outer.items()}

    def parse(self, name: str, default: str, parser: Callable[[str], T]) -> T:
        raw = self.text(name, default)
        try:
            return parser(raw)
        except ValueError as exc:
            self.doc.fail((*self.key, name), str(exc))

    def reject_unknown(self, known: set[str]) -> None:
        for name in self.values:
            if name not in known:
                self.doc.fail((*self.key, name), f"unknown key (known: {', '.join(sorted(known))})")


_REQUIRED = object()
