"""What the harness reads from the OpenAPI document: operations, schemas, examples.

Nothing here knows the SDK; the document is the only input.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import attrs
from operations_gen import HTTP_METHODS
from spec_check import examples_of

JSON = "application/json"


@attrs.frozen
class SpecOperation:
    operation_id: str
    method: str
    path: str
    raw: dict[str, Any] = attrs.field(repr=False)


class Spec:
    """A loaded OpenAPI 3.1 document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.operations: dict[str, SpecOperation] = {}
        for path, item in document["paths"].items():
            for method, raw in item.items():
                if method in HTTP_METHODS:
                    op = SpecOperation(raw["operationId"], method.upper(), path, raw)
                    self.operations[op.operation_id] = op

    @classmethod
    def load(cls, path: str | Path) -> Spec:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def deref(self, node: Any) -> Any:
        """``node`` with a top-level local ``$ref`` followed (repeatedly)."""
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"only local references are supported, got {ref}")
            target: Any = self.document
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
            seen += 1
            if seen > 50:
                raise ValueError(f"reference cycle at {ref}")
        return node

    # -- parameters, bodies, responses -------------------------------------------------------

    def parameters(self, operation_id: str) -> list[dict[str, Any]]:
        op = self.operations[operation_id]
        shared = self.document["paths"][op.path].get("parameters", [])
        return [self.deref(p) for p in [*shared, *op.raw.get("parameters", [])]]

    def parameter_example(self, operation_id: str, location: str, index: int = 0) -> str | None:
        """The example value of the ``index``-th parameter ``in`` ``location``."""
        found = [p for p in self.parameters(operation_id) if p.get("in") == location]
        if index >= len(found):
            return None
        param = found[index]
        schema = self.deref(param.get("schema") or {})
        for value in (
            param.get("example"),
            *[self.deref(e).get("value") for e in (param.get("examples") or {}).values()],
            schema.get("example"),
            *(schema.get("enum") or [])[:1],
        ):
            if value is not None:
                return str(value)
        return None

    def request_media(self, operation_id: str) -> tuple[str, dict[str, Any]] | None:
        body = self.deref(self.operations[operation_id].raw.get("requestBody") or {})
        content = body.get("content") or {}
        for media_type, media in content.items():
            return media_type, media
        return None

    def success_response(self, operation_id: str) -> tuple[str, dict[str, Any] | None] | None:
        """The lowest 2xx (or 3xx) status and its JSON media object (None: no JSON body); Prism
        answers with this one when it is not told otherwise."""
        responses = self.operations[operation_id].raw["responses"]
        for status in sorted(responses):
            if status[:1] in ("2", "3"):
                response = self.deref(responses[status])
                return status, (response.get("content") or {}).get(JSON)
        return None

    def response_schema(self, operation_id: str, status: int) -> dict[str, Any] | None:
        """The JSON schema of the operation's ``status`` response, if it documents one."""
        response = self.operations[operation_id].raw["responses"].get(str(status))
        media = (self.deref(response).get("content") or {}).get(JSON) if response else None
        schema = (media or {}).get("schema")
        return schema if isinstance(schema, dict) else None

    def request_example(self, operation_id: str) -> Any:
        """The request body to send: the document's first example, else one built from the
        schema's own property examples (see ``synthesize``)."""
        found = self.request_media(operation_id)
        if found is None:
            return None
        _, media = found
        for _, example in examples_of(self.document, media):
            if example is not None:
                return example
        return self.synthesize(media.get("schema") or {})

    # -- schemas ---------------------------------------------------------------------------

    def bundled(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A stand-alone JSON Schema (2020-12): ``schema`` with the document's components
        beside it, so its ``#/components/...`` references resolve against itself.

        Two habits of the document are read as its authors meant them: an object schema that
        leaves out ``"type": "object"`` gets it (JSON Schema would also accept null, numbers or
        strings there, and a generator would produce them), and ``"required": true`` written
        on a property (OpenAPI 2 style, not valid 2020-12) moves to the object's list."""
        result = copy.deepcopy(schema)
        result["components"] = {
            "schemas": copy.deepcopy(self.document["components"].get("schemas", {}))
        }
        result.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
        _normalise(result)
        return result

    def synthesize(self, schema: Any, depth: int = 0) -> Any:
        """A plausible instance of ``schema``: its examples where it has them, else the first
        enum value, else a value of the declared type and format. Objects get every property,
        so as many fields as possible are exercised."""
        schema = self.deref(schema)
        if not isinstance(schema, dict):
            return None
        for keyword in ("example", "const", "default"):
            if keyword in schema and schema[keyword] is not None:
                return copy.deepcopy(schema[keyword])
        if isinstance(schema.get("examples"), list) and schema["examples"]:
            return copy.deepcopy(schema["examples"][0])
        if schema.get("enum"):
            return next((v for v in schema["enum"] if v is not None), None)
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                value = self.synthesize(part, depth + 1)
                if isinstance(value, dict):
                    merged.update(value)
            own = {k: v for k, v in schema.items() if k != "allOf"}
            if own.get("properties"):
                value = self.synthesize(own, depth + 1)
                if isinstance(value, dict):
                    merged.update(value)
            return merged
        for keyword in ("oneOf", "anyOf"):
            if schema.get(keyword):
                options = [self.deref(o) for o in schema[keyword]]
                usable = [o for o in options if o.get("type") != "null"] or options
                return self.synthesize(usable[0], depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if kind is None and "properties" in schema:
            kind = "object"
        if kind == "object":
            if depth > 6:
                return {}
            return {
                name: self.synthesize(sub, depth + 1)
                for name, sub in (schema.get("properties") or {}).items()
            }
        if kind == "array":
            if depth > 6:
                return []
            return [self.synthesize(schema.get("items") or {}, depth + 1)]
        if kind == "integer":
            return int(schema.get("minimum", 1))
        if kind == "number":
            return schema.get("minimum", 1.5)
        if kind == "boolean":
            return True
        if kind == "string":
            return FORMAT_SAMPLES.get(schema.get("format", ""), "sample")
        return None


FORMAT_SAMPLES = {
    "date-time": "2024-01-02T03:04:05Z",
    "date": "2024-01-02",
    "email": "someone@example.com",
    "uri": "https://example.com/hook",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
}


def _normalise(node: Any) -> None:
    if isinstance(node, list):
        for value in node:
            _normalise(value)
        return
    if not isinstance(node, dict):
        return
    properties = node.get("properties")
    if isinstance(properties, dict):
        for name, sub in properties.items():
            flag = sub.pop("required", None) if isinstance(sub, dict) else None
            if flag is True:
                node["required"] = [*node.get("required", []), name]
            elif flag is not None and not isinstance(flag, bool):
                sub["required"] = flag  # a real list: the property is itself an object
    if ("properties" in node or isinstance(node.get("required"), list)) and "type" not in node:
        node["type"] = "object"
    for value in node.values():
        _normalise(value)
