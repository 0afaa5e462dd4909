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

from karbon_async._endpoint import Endpoint
from karbon_async._generated import OPERATIONS
from karbon_async._resources import RESOURCES, declared_operations

PLACEHOLDER = re.compile(r"<!-- resources: ([\w ]+) -->")
_placed: dict[str, str] = {}

# Where a method kind's parameters are documented (client.md).
KIND_ANCHORS = {
    "ListEndpoint": "client.md#karbon_async._read_endpoints.ListMethod",
    "GetEndpoint": "client.md#karbon_async._read_endpoints.GetMethod",
}


def _model_name(model: object) -> str | None:
    name = getattr(model, "__name__", None)
    return name if isinstance(name, str) and name != "NoneType" else None


def render_resource(attribute: str) -> str:
    resource = RESOURCES[attribute]
    lines = [f"## `client.{attribute}`", ""]
    if resource.__doc__:
        lines += [inspect.cleandoc(resource.__doc__), ""]
    lines += [
        "| method | operationId | HTTP | body | returns |",
        "| --- | --- | --- | --- | --- |",
    ]
    models: list[str] = []
    for entry in declared_operations(resource):
        op = OPERATIONS[entry.operation_id]
        body, returned = _model_name(op.request_model), _model_name(op.response_model)
        descriptor = vars(resource).get(entry.method_name)
        kind = type(descriptor).__name__ if isinstance(descriptor, Endpoint) else "method"
        if kind == "ListEndpoint":
            shown = f"`Paginator[{returned}]`"
        elif kind == "KeyedListEndpoint":
            shown = f"`list[{returned}]`"
        else:
            shown = f"`{returned}`" if returned else "`None`"
        method = f"`{entry.method_name}`"
        if kind in KIND_ANCHORS:
            method = f"[{method}]({_relative(KIND_ANCHORS[kind])})"
        path = op.path.replace("|", "\\|")
        lines.append(
            f"| {method} | `{op.operation_id}` | `{op.method} {path}` "
            f"| {f'`{body}`' if body else '-'} | {shown} |"
        )
        models += [name for name in (body, returned) if name and name not in models]
    lines.append("")
    for name in models:
        lines += [f"::: karbon_async.models.{name}", "    options:", "      heading_level: 3", ""]
    return "\n".join(lines)


def _relative(target: str) -> str:
    # Resource pages live one level down, in resources/.
    return f"../{target}"


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
