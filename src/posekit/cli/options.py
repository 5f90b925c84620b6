"""Command-line flags generated from the options dataclasses (see :mod:`posekit.core.options`).

A command names, per keyword parameter, the dataclass whose fields become its flags::

    @app.command("aggregate")
    @friendly_errors
    @with_options(ssta=AggregationOptions)
    def aggregate(out: Path, ssta: AggregationOptions) -> None: ...

The decorator gives the command an ``inspect.Signature`` in which that parameter is replaced by one
``Annotated[T, typer.Option(...)]`` parameter per field, so Typer itself reads the flags, renders
``--help`` (every default shown) and pairs booleans as ``--x/--no-x``; the wrapped command then receives
the dataclass instance, whose ``__post_init__`` refuses out-of-bound values with one line. Building the
signature, rather than appending ``click.Option`` objects to the command Typer makes, keeps every flag
inside Typer's own help and callback handling, which accepts only the parameters it created.

Every flag but a boolean is read as text and converted by :func:`posekit.core.options.coerce`, the one
conversion config files use too: ``Literal[...]`` is a choice, ``tuple[X, ...]`` comma-separated text
(``45,55``), ``X | None`` with a set default takes ``none`` to switch the step off; ``--help`` names the
type (``<int>``, ``<a|b>``). A nested dataclass gives its own fields' flags. A flag that two nested groups
share (``--seed`` of the self-training and of its pseudo labels) is one flag that sets both; they must agree
on its default.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.markup import escape

from posekit.core.errors import ConfigError
from posekit.core.options import (
    bound_text,
    coerce,
    field_types,
    flag_name,
    literal_choices,
    optional_member,
    tuple_item,
)

F = TypeVar("F", bound=Callable)
Mode = Literal["instance", "values", "given"]
CONTEXT_PARAM = "options_context"
"""The parameter through which a generated command learns which flags were given (Typer fills it)."""


@dataclass(frozen=True)
class Group:
    """One dataclass turned into flags for one command parameter.

    Attributes:
        cls: the options dataclass.
        mode: what the command receives: ``"instance"`` (the built dataclass), ``"values"`` (a dict of
            every field's value, for a dataclass with fields the command fills itself) or ``"given"``
            (a dict of the fields given on the command line only, for layering over a config file).
        panel: the ``--help`` panel of these flags (None: the command's main panel).
        exclude: fields that are not flags of this command.
        only: when given, the only fields that are flags of this command (``mode`` should then be ``"values"``).
    """

    cls: type
    mode: Mode = "instance"
    panel: str | None = None
    exclude: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None


@dataclass
class Flag:
    """One generated flag: its parameter name, the field paths it sets and how its text becomes a value."""

    param: str
    paths: list[tuple[str, ...]]
    parameter: inspect.Parameter
    convert: Callable[[Any], Any]
    default: Any


def _is_dataclass_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


def _default_of(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _help(field: dataclasses.Field, cls: type) -> str:
    text = field.metadata.get("help")
    if not text:
        raise ConfigError(f"{cls.__name__}.{field.name} has no help: give it metadata={{'help': ...}}")
    bounds = bound_text(field)
    return escape(f"{text} (must be {bounds})" if bounds else text)


def _flag(field: dataclasses.Field, annotation: Any, cls: type, group: Group, default: Any) -> Flag:
    """The flag of ``field``: a boolean is Typer's ``--x/--no-x`` pair; any other type is taken as text and
    converted by :func:`posekit.core.options.coerce`, the conversion config files use too."""
    flag = flag_name(field)
    names = [flag, *field.metadata.get("aliases", ())]
    param = flag.lstrip("-").replace("-", "_")
    if not param.isidentifier():  # a flag such as --3d: the field's name is the parameter
        param = field.name
    convert: Callable[[Any], Any] = functools.partial(_convert, field, annotation, flag)
    typed, metavar, shown = str, _metavar(annotation), _text(default)
    if annotation is bool or annotation == bool | None:
        names = [f"{flag}/--no-{flag.removeprefix('--')}", *field.metadata.get("aliases", ())]
        typed, metavar, shown, convert = annotation, None, default, _identity
    option = typer.Option(
        *names,
        help=_help(field, cls),
        metavar=metavar,
        show_default=True,
        hidden=bool(field.metadata.get("hidden", False)),
        rich_help_panel=field.metadata.get("panel") or group.panel,
    )
    typed = typed | None if shown is None and typed is str else typed
    parameter = inspect.Parameter(
        param, inspect.Parameter.KEYWORD_ONLY, default=shown, annotation=Annotated[typed, option]
    )
    return Flag(param, [], parameter, convert, default)


def _convert(field: dataclasses.Field, annotation: Any, flag: str, text: Any) -> Any:
    return text if text is None or not isinstance(text, str) else coerce(field, annotation, text, flag)


def _metavar(annotation: Any) -> str:
    """How ``--help`` names the value a flag takes: ``<int>``, ``<a|b>`` for choices, ``<str>`` for a list."""
    choices = literal_choices(annotation)
    if choices is not None:
        return f"<{'|'.join(map(str, choices))}>"
    if tuple_item(annotation) is not None:
        return "<str>"
    member = optional_member(annotation) or annotation
    return f"<{getattr(member, '__name__', 'str').lower()}>"


def _text(default: Any) -> str | None:
    """A default as the flag's text (tuples comma-separated), shown in ``--help``."""
    if default is None:
        return None
    return ",".join(map(str, default)) if isinstance(default, tuple) else str(default)


def _identity(value: Any) -> Any:
    return value


def _walk(cls: type, group: Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Flag]]:
    types = field_types(cls)
    for field in dataclasses.fields(cls):
        if field.metadata.get("cli", True) is False or (not prefix and not _chosen(group, field.name)):
            continue
        annotation = types[field.name]
        path = (*prefix, field.name)
        if _is_dataclass_type(annotation):
            yield from _walk(annotation, group, path)
            continue
        default = _default_of(field)
        if default is dataclasses.MISSING:
            raise ConfigError(f"{cls.__name__}.{field.name} has no default: mark it metadata={{'cli': False}}")
        yield path, _flag(field, annotation, cls, group, default)


def _chosen(group: Group, name: str) -> bool:
    return name not in group.exclude and (group.only is None or name in group.only)


def flags_of(group: Group) -> list[Flag]:
    """The flags of ``group``'s dataclass (nested dataclasses flattened), one per flag name."""
    flags: dict[str, Flag] = {}
    for path, flag in _walk(group.cls, group):
        known = flags.get(flag.param)
        if known is None:
            flags[flag.param] = flag
        elif known.default != flag.default:
            raise ConfigError(
                f"--{flag.param.replace('_', '-')} is declared by {'.'.join(known.paths[0])} and {'.'.join(path)} "
                f"with different defaults ({known.default!r}, {flag.default!r}); give one a 'flag' of its own"
            )
        flags[flag.param].paths.append(path)
    return list(flags.values())


def build(
    cls: type, values: dict[tuple[str, ...], Any], prefix: tuple[str, ...] = (), group: Group | None = None
) -> dict[str, Any]:
    """The keyword arguments of ``cls`` from flag values keyed by field path; nested groups that are flags built."""
    types = field_types(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        path = (*prefix, field.name)
        on_cli = field.metadata.get("cli", True) is not False
        chosen = on_cli and (group is None or bool(prefix) or _chosen(group, field.name))
        if _is_dataclass_type(types[field.name]):
            if chosen:
                kwargs[field.name] = types[field.name](**build(types[field.name], values, path))
        elif path in values:
            kwargs[field.name] = values[path]
    return kwargs


def with_options(**groups: type | Group) -> Callable[[F], F]:
    """Replace each named keyword parameter of a Typer command by the flags of its options dataclass."""
    resolved = {name: g if isinstance(g, Group) else Group(g) for name, g in groups.items()}

    def decorate(command: F) -> F:
        hints = typing.get_type_hints(command, include_extras=True)
        signature = inspect.signature(command)
        kept = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()]
        missing = set(resolved) - {p.name for p in kept}
        if missing:
            raise TypeError(f"{command.__name__} has no parameter {sorted(missing)} for with_options")
        kept = [p for p in kept if p.name not in resolved]
        context_name = next((p.name for p in kept if p.annotation is typer.Context), None)
        if context_name is None:
            context_name = CONTEXT_PARAM
            kept.append(inspect.Parameter(CONTEXT_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
        flags = {name: flags_of(group) for name, group in resolved.items()}
        taken = {p.name for p in kept}
        generated = []
        for name, group_flags in flags.items():
            for flag in group_flags:
                if flag.param in taken:
                    raise TypeError(f"{command.__name__}: flag --{flag.param} of {name} is declared twice")
                taken.add(flag.param)
                generated.append(flag.parameter)

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            context = kwargs[context_name] if context_name != CONTEXT_PARAM else kwargs.pop(CONTEXT_PARAM)
            for name, group in resolved.items():
                values: dict[tuple[str, ...], Any] = {}
                for flag in flags[name]:
                    raw = kwargs.pop(flag.param)
                    if group.mode == "given" and not _given(context, flag.param):
                        continue
                    for path in flag.paths:
                        values[path] = flag.convert(raw)
                if group.mode == "given":
                    kwargs[name] = {path[-1]: value for path, value in values.items()}
                    continue
                fields = build(group.cls, values, group=group)
                kwargs[name] = fields if group.mode == "values" else group.cls(**fields)
            return command(**kwargs)

        parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in kept + generated]
        wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in kept + generated}
        del wrapper.__wrapped__  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _given(context: typer.Context, param: str) -> bool:
    """Whether ``param`` came from the command line or the environment (not its default)."""
    source = context.get_parameter_source(param)
    return source is not None and source.name != "DEFAULT"
