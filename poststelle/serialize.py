"""Turn typed immutable records into JSON-ready data and back, losslessly."""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")


_PLAIN = frozenset({str, int, float, bool, type(None)})  # exactly these: a StrEnum is no str here


def to_jsonable(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: to_jsonable(getattr(value, name)) for name in _names(type(value))}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


@functools.cache
def _names(tp: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(tp))


def from_jsonable(cls: type[T], data: Any) -> T:
    """Rebuild a record of type `cls` from what `to_jsonable` made of it."""
    return typing.cast(T, _build(cls, data))


@functools.cache
def _fields(tp: type) -> tuple[tuple[str, Any], ...]:
    """A dataclass's fields with their resolved types: resolving them (`get_type_hints`) costs
    more than building the record."""
    hints = get_type_hints(tp)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(tp))


def _build(tp: Any, data: Any) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if data is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _build(inner, data)
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in data)
        return tuple(_build(a, v) for a, v in zip(args, data, strict=True))
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        args = get_args(tp)
        value_type = args[1] if args else Any
        return {k: _build(value_type, v) for k, v in data.items()}
    if tp is Any:
        return data
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            kwargs = {name: _build(hint, data[name]) for name, hint in _fields(tp) if name in data}
            return tp(**kwargs)
        if issubclass(tp, enum.Enum):
            return tp(data)
        if tp is datetime:
            return datetime.fromisoformat(data)
        if tp is bytes:
            return base64.b64decode(data)
    return data
