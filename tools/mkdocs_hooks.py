"""MkDocs hook: the per-resource reference, generated from the client's declarations.

A page holds ``<!-- resources: contacts organizations -->``; the build replaces it with, per
resource, its methods (operationId, HTTP method and path, request body and response models,
from the descriptors' operation specs) and the reference of those models. Every resource of
``RESOURCES`` must sit on exactly one page, or the build fails.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from karbon_async._generated import OPERATIONS
from karbon_async._resources import RESOURCES, declared_operations

PLACEHOLDER = re.compile(r"<!-- resources: ([\w ]+) -->")
_placed: dict[str, str] = {}

# Where each method kind's parameters are documented (client.md, "Method kinds").
_READ, _WRITE = "karbon_async._read_endpoints", "karbon_async._write_endpoints"
KIND_DOCS = {
    "ListEndpoint": f"{_READ}.ListMethod",
    "GetEndpoint": f"{_READ}.GetMethod",
    "SingletonEndpoint": f"{_READ}.SingletonMethod",
    "KeyedListEndpoint": f"{_READ}.KeyedListMethod",
    "CreateEndpoint": f"{_WRITE}.CreateMethod",
    "ReplaceEndpoint": f"{_WRITE}.KeyedWriteMethod",
    "PatchEndpoint": f"{_WRITE}.KeyedWriteMethod",
    "ActionEndpoint": f"{_WRITE}.KeyedWriteMethod",
    "DeleteEndpoint": f"{_WRITE}.DeleteMethod",
    "DeleteAllEndpoint": f"{_WRITE}.DeleteAllMethod",
    "ModifyEndpoint": f"{_WRITE}.ModifyMethod",
}


def _model_name(model: object) -> str | None:
    name = getattr(model, "__name__", None)
    return name if isinstance(name, str) and name != "NoneType" else None


def _public_members(resource: type) -> dict[str, object]:
    members: dict[str, object] = {}
    for klass in reversed(resource.__mro__[:-1]):
        members.update((n, v) for n, v in vars(klass).items() if not n.startswith("_"))
    return members


def _method_cell(name: str, value: object) -> str:
    kind = KIND_DOCS.get(type(value).__name__)
    # Resource pages live one level down, in resources/.
    return f"[`{name}`](../client.md#{kind})" if kind else f"`{name}`"


def render_resource(attribute: str) -> str:
    resource = RESOURCES[attribute]
    members = _public_members(resource)
    lines = [f"## `client.{attribute}`", ""]
    if resource.__doc__:
        lines += [inspect.cleandoc(resource.__doc__), ""]
    lines += [
        "| method | operationId | HTTP | body | returns |",
        "| --- | --- | --- | --- | --- |",
    ]
    models: list[str] = []
    declared = declared_operations(resource)
    for entry in declared:
        op = OPERATIONS[entry.operation_id]
        body, returned = _model_name(op.request_model), _model_name(op.response_model)
        value = members.get(entry.method_name)
        kind = type(value).__name__
        if kind == "ListEndpoint":
            shown = f"`Paginator[{returned}]`"
        elif kind == "KeyedListEndpoint":
            shown = f"`list[{returned}]`"
        else:
            shown = f"`{returned}`" if returned else "`None`"
        path = op.path.replace("|", "\\|")
        lines.append(
            f"| {_method_cell(entry.method_name, value)} | `{op.operation_id}` "
            f"| `{op.method} {path}` | {f'`{body}`' if body else '-'} | {shown} |"
        )
        models += [name for name in (body, returned) if name and name not in models]
    names = {entry.method_name for entry in declared}
    for name, value in members.items():
        if name not in names and (callable(value) or type(value).__name__ in KIND_DOCS):
            lines.append(f"| {_method_cell(name, value)} | - | made of the calls above | - | - |")
    lines.append("")
    # Hand-written methods (not descriptors) carry their own signature and docstring.
    for value in members.values():
        if inspect.isfunction(value):
            lines += [f"::: {value.__module__}.{value.__qualname__}", ""]
    for name in models:
        lines += [f"::: karbon_async.models.{name}", ""]
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    def expand(match: re.Match[str]) -> str:
        out = []
        for attribute in match.group(1).split():
            if attribute not in RESOURCES:
                raise ValueError(f"{page.file.src_path}: no resource {attribute!r}")
            if _placed.setdefault(attribute, page.file.src_path) != page.file.src_path:
                raise ValueError(f"{attribute} is on both {_placed[attribute]} and this page")
            out.append(render_resource(attribute))
        return "\n\n".join(out)

    return PLACEHOLDER.sub(expand, markdown)


def on_post_build(**_: Any) -> None:
    missing = sorted(set(RESOURCES) - set(_placed))
    _placed.clear()
    if missing:
        raise ValueError(f"resources on no docs page: {', '.join(missing)}")
