"""The options convention: every user-facing option is a frozen-dataclass field declared once.

A field carries ``metadata={"help": ..., "min": lo, "max": hi, "min_open": bool, "max_open": bool}``;
``"flag"`` names the command-line flag where it differs from ``--field-name``, ``"aliases"`` adds short
flags, ``"panel"`` groups it in ``--help``, ``"hidden"`` keeps it out of ``--help``, ``"cli": False`` keeps it
off the command line and ``"resume": False`` out of the manifest's resume check. Choices are ``Literal[...]``
annotations. ``check_bounds`` is called from each dataclass's ``__post_init__`` so the library and the CLI
refuse the same values with the same one-line message.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Iterable
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
