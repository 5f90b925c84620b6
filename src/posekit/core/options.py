"""The options convention: every user-facing option is a frozen-dataclass field declared once.

A field carries ``metadata={"help": ..., "min": lo, "max": hi, "min_open": bool, "max_open": bool}``;
``"flag"`` names the command-line flag where it differs from ``--field-name``, ``"aliases"`` adds short
flags, ``"panel"`` groups it in ``--help``, ``"hidden"`` keeps it out of ``--help``, ``"cli": False`` keeps it
off the command line and ``"resume": False`` out of the manifest's resume check. Choices are ``Literal[...]``
annotations. ``check_bounds`` is called from each dataclass's ``__post_init__`` so the library and the CLI
refuse the same values with the same one-line message; ``coerce`` turns a flag's text or a config file's
value into the field's type, for the CLI and config files alike.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from posekit.core.errors import ConfigError


def flag_name(field: dataclasses.Field) -> str:
    """The command-line flag of ``field``: its ``"flag"`` metadata, else ``--`` and the name with dashes."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotation of each field of dataclass ``cls`` (postponed string annotations evaluated)."""
    module = sys.modules.get(cls.__module__)
    namespace = dict(vars(module)) if module is not None else {}
    try:
        return typing.get_type_hints(cls, globalns=namespace)
    except NameError as exc:
        message = f"{cls.__name__}: annotation cannot be resolved ({exc}); import the type at module level"
        raise ConfigError(message) from exc


def literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    """The allowed values of a ``Literal[...]`` (or ``Literal[...] | None``) annotation; None for any other type."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    members = [arg for arg in get_args(annotation) if arg is not type(None)]
    if len(members) == 1 and get_origin(members[0]) is Literal:
        return get_args(members[0])
    return None


def tuple_item(annotation: Any) -> Any:
    """``X`` of ``tuple[X, ...]`` or ``tuple[X, ...] | None``; None for any other annotation."""
    for candidate in (annotation, *get_args(annotation)):
        if get_origin(candidate) is tuple:
            args = get_args(candidate)
            if len(args) == 2 and args[1] is Ellipsis:
                return args[0]
    return None


def optional_member(annotation: Any) -> Any:
    """``X`` of ``X | None``; None for any other annotation."""
    members = [arg for arg in get_args(annotation) if arg is not type(None)]
    return members[0] if len(members) == 1 and len(get_args(annotation)) == 2 else None


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "text", Path: "a path"}
_PLURALS = {int: "integers", float: "numbers", str: "names", Path: "paths"}


def coerce(field: dataclasses.Field, annotation: Any, value: Any, name: str) -> Any:
    """``value`` as a value of ``field`` (of type ``annotation``): a flag's text, or what a YAML/TOML file read.

    The one conversion of option values, for flags and config files alike: ``X | None`` takes None or
    ``none``; ``tuple[X, ...]`` comma-separated text or a list; ``bool`` true/false, yes/no, on/off, 1/0;
    ``int`` a whole number; ``float`` any number; ``Literal`` one of its choices; ``str`` and ``Path`` text.
    Raises ConfigError, one line naming ``name`` (the flag, or the key and its file), the value and the type.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "none" and _optional(annotation)):
        return None
    item = tuple_item(annotation)
    if item is not None:
        parts = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value
        try:
            if not isinstance(parts, list | tuple):
                parts = [parts] if isinstance(parts, int | float) and not isinstance(parts, bool) else None
            return tuple(_scalar(item, part) for part in parts)
        except (TypeError, ValueError):
            example = ",".join(map(str, field.default)) if isinstance(field.default, tuple) and field.default else "1,2"
            what = _PLURALS.get(item, "values")
            raise ConfigError(f"{name} must be comma-separated {what} like {example}; got {value!r}") from None
    annotation = optional_member(annotation) or annotation
    try:
        return _scalar(annotation, value)
    except (TypeError, ValueError):
        choices = literal_choices(annotation)
        what = f"one of {', '.join(map(str, choices))}" if choices else _KINDS.get(annotation, annotation)
        raise ConfigError(f"{name} must be {what}; got {value!r}") from None


def _optional(annotation: Any) -> bool:
    return type(None) in get_args(annotation)


def _scalar(annotation: Any, value: Any) -> Any:
    """``value`` as one ``annotation``; ValueError or TypeError when it is not one."""
    choices = literal_choices(annotation)
    if choices is not None:
        by_text = {str(choice): choice for choice in choices}
        if str(value).strip() not in by_text:
            raise ValueError(value)
        return by_text[str(value).strip()]
    if isinstance(value, bool) and annotation is not bool:
        raise TypeError(value)
    if annotation is bool:
        text = str(value).strip().lower()
        if text not in _TRUE + _FALSE:
            raise ValueError(value)
        return text in _TRUE
    if annotation is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value) if isinstance(value, int | float) else int(str(value).strip())
    if annotation is float:
        return float(value) if isinstance(value, int | float) else float(str(value).strip())
    if annotation in (str, Path):
        if isinstance(value, list | tuple | dict):
            raise TypeError(value)
        return annotation(value)
    return value


def bound_text(field: dataclasses.Field) -> str:
    """The bounds of ``field`` as the user reads them, e.g. ``> 0``, ``>= 0 and <= 1``; empty when unbounded."""
    meta = field.metadata
    parts = []
    if "min" in meta:
        parts.append(f"{'>' if meta.get('min_open') else '>='} {meta['min']}")
    if "max" in meta:
        parts.append(f"{'<' if meta.get('max_open') else '<='} {meta['max']}")
    return " and ".join(parts)


def _outside(field: dataclasses.Field, value: float) -> bool:
    meta = field.metadata
    if "min" in meta and (value <= meta["min"] if meta.get("min_open") else value < meta["min"]):
        return True
    return "max" in meta and (value >= meta["max"] if meta.get("max_open") else value > meta["max"])


def _numbers(value: Any) -> Iterable[float]:
    if isinstance(value, bool) or value is None:
        return ()
    if isinstance(value, int | float):
        return (value,)
    if isinstance(value, tuple | list):
        return [item for item in value if isinstance(item, int | float) and not isinstance(item, bool)]
    return ()


def check_bounds(instance: Any) -> None:
    """Refuse a dataclass instance whose field lies outside its ``min``/``max`` metadata or its ``Literal`` choices.

    Raises ConfigError with one line naming the flag, the bound and the value given; None values are not checked
    (an optional field left unset), and each number of a tuple/list field is checked against the field's bounds.
    """
    cls = type(instance)
    types = None
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        for number in _numbers(value):
            if _outside(field, number):
                raise ConfigError(f"{flag_name(field)} must be {bound_text(field)} (got {number})")
        annotation = field.type
        if isinstance(annotation, str):
            if "Literal" not in annotation:
                continue
            types = types if types is not None else field_types(cls)
            annotation = types[field.name]
        choices = literal_choices(annotation)
        if choices is not None and value is not None and value not in choices:
            allowed = ", ".join(str(choice) for choice in choices)
            raise ConfigError(f"{flag_name(field)} must be one of {allowed} (got {value!r})")


def recorded_settings(instance: Any) -> dict[str, Any]:
    """The fields of an options dataclass that decide a run's output, as a manifest records them.

    Derived from the fields, so a new option is recorded without a list to update: every field but those
    with ``metadata={"resume": False}`` (device, batch sizes: they change how, not what); a field's
    ``"run_only"`` metadata names sub-fields of a nested dataclass that are left out the same way; a nested
    dataclass gives its own ``settings()`` when it has one, else its recorded fields.
    """
    out: dict[str, Any] = {}
    for field in dataclasses.fields(instance):
        if field.metadata.get("resume", True) is False:
            continue
        value = getattr(instance, field.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            settings = getattr(value, "settings", None)
            value = settings() if callable(settings) else recorded_settings(value)
            for name in field.metadata.get("run_only", ()):
                value.pop(name, None)
        out[field.name] = value
    return out
