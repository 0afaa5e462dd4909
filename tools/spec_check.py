"""Check the generated models against every example body in the Karbon OpenAPI document.

Usage: ``python tools/spec_check.py PATH/TO/KarbonAPI.json``

For each operation, every request example and every 2xx response example is decoded with the
SDK's model (``karbon_async._converter.structure``; for collections, each item with the item
model) and re-encoded with ``unstructure``; every key of the example, at every depth, must
survive (unknown ones via ``extra``). Every operationId must appear in ``OPERATIONS`` and be
declared by exactly one client method (an endpoint descriptor, built from its ``OPERATIONS``
row, or an ``@operation`` method). Every enum property of every schema must be typed with a
KarbonEnum whose members include the spec's values spelled exactly as the spec spells them
(what requests send).
Exits non-zero on any failure that is not a known, explained oddity of the spec.
"""

from __future__ import annotations

import argparse
import json
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import generate_models  # tools/ is on sys.path when this file is run as a script

from karbon_async import models
from karbon_async._converter import structure, unstructure
from karbon_async._generated import OPERATIONS, OperationSpec
from karbon_async._model_base import KarbonEnum
from karbon_async._resources import operation_table

# (operationId, where, example name) -> why the example cannot be checked as documented.
KNOWN_EXCEPTIONS: dict[tuple[str, str, str], str] = {
    ("GetCustomFieldDefinitions", "200", "*"): (
        "the list example is one bare definition, not the {value: [...]} envelope; "
        "checked as a single item instead"
    ),
}


# (operationId, where, example name) -> why the example is not valid against its own schema and
# is therefore not decoded (the SDK requires what the schema requires).
INVALID_EXAMPLES: dict[tuple[str, str, str], str] = {
    ("getPayments", "200", "(example)"): "omits PaymentKey, which its schema requires",
}


def resolve_example(spec: dict[str, Any], example: dict[str, Any]) -> Any:
    ref = example.get("$ref")
    if isinstance(ref, str):
        example = spec["components"]["examples"][ref.rsplit("/", 1)[1]]
    return example.get("value")


def examples_of(spec: dict[str, Any], media: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    if "example" in media:
        yield "(example)", media["example"]
    for name, example in (media.get("examples") or {}).items():
        yield name, resolve_example(spec, example)


def missing_keys(original: Any, encoded: Any, path: str = "") -> list[str]:
    """Keys of ``original`` (recursively) that ``encoded`` lost. A key the example spells in
    another case than the schema (TenantSettings ``Primary``) decodes into its field and is
    written back in the schema's case, which counts as kept."""
    lost: list[str] = []
    if isinstance(original, dict):
        if not isinstance(encoded, dict):
            return [path or "<root>"]
        by_casefold = {str(key).casefold(): key for key in encoded}
        for key, value in original.items():
            written = key if key in encoded else by_casefold.get(str(key).casefold())
            if written is None:
                lost.append(f"{path}.{key}")
            else:
                lost += missing_keys(value, encoded[written], f"{path}.{key}")
    elif isinstance(original, list) and isinstance(encoded, list):
        for index, (left, right) in enumerate(zip(original, encoded, strict=False)):
            lost += missing_keys(left, right, f"{path}[{index}]")
    return lost


def check_body(
    body: Any, model: type[Any], op: OperationSpec[Any, Any], as_list: bool
) -> list[str]:
    if as_list:
        if not isinstance(body, dict):
            return ["list body is not an object"]
        items = body.get("value", body.get("values"))
        if not isinstance(items, list):
            return ["list body has neither 'value' nor 'values'"]
        problems: list[str] = []
        for index, item in enumerate(items):
            problems += [f"[{index}] {p}" for p in check_body(item, model, op, as_list=False)]
        return problems
    try:
        decoded = structure(body, model)
        encoded = unstructure(decoded)
    except Exception as exc:  # report every failure, keep going
        return [f"decode failed: {type(exc).__name__}: {exc}"]
    return [f"lost key {key}" for key in missing_keys(body, encoded)]


def check_declared(spec_ids: set[str]) -> tuple[list[str], int]:
    """Failures, and how many spec operations some client method declares."""
    failures: list[str] = []
    by_id: dict[str, list[str]] = {}
    for attribute, entry in operation_table():
        where = f"client.{attribute}.{entry.method_name}"
        by_id.setdefault(entry.operation_id, []).append(where)
        if entry.operation_id not in OPERATIONS:
            failures.append(f"{where}: declares unknown operationId {entry.operation_id}")
    for op_id, places in sorted(by_id.items()):
        if len(places) > 1:
            failures.append(f"{op_id}: declared more than once ({', '.join(places)})")
    for op_id in sorted(spec_ids - set(by_id)):
        failures.append(f"{op_id}: no client method declares it")
    return failures, len(spec_ids & set(by_id))


def enum_classes(tp: Any) -> list[type[KarbonEnum]]:
    """The KarbonEnum classes in a resolved field type (through unions and lists)."""
    if isinstance(tp, type) and issubclass(tp, KarbonEnum):
        return [tp]
    if typing.get_origin(tp) in (typing.Union, types.UnionType, list):
        return [enum for arg in typing.get_args(tp) for enum in enum_classes(arg)]
    return []


def check_enums(spec: dict[str, Any]) -> tuple[list[str], int]:
    """Failures, and how many enum-typed fields were compared with the spec's spelling."""
    gen = generate_models.Generator(spec)
    gen.run()
    gen.name_all()
    failures: list[str] = []
    checked = 0
    for model in gen.models.values():
        cls = getattr(models, model.name, None)
        if cls is None:
            failures.append(f"enums: {model.name} is not in karbon_async.models (regenerate?)")
            continue
        fields = attrs.fields_dict(attrs.resolve_types(cls))
        for f in model.fields:
            if not f.enum_values:
                continue
            checked += 1
            where = f"{model.name}.{f.api_name}"
            enums = enum_classes(fields[f.py_name].type) if f.py_name in fields else []
            if len(enums) != 1:
                failures.append(f"enums: {where} is not typed with one KarbonEnum")
                continue
            values = {member.value for member in enums[0]}
            missing = [value for value in f.enum_values if value not in values]
            if missing:
                failures.append(
                    f"enums: {where} ({enums[0].__name__}) lacks the spec's spelling of {missing}"
                )
    return failures, checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("spec", type=Path)
    args = parser.parse_args(argv)
    spec = json.loads(args.spec.read_text(encoding="utf-8"))

    failures: list[str] = []
    known: list[str] = []
    checked = 0
    seen_ids: set[str] = set()
    for path, path_item in spec["paths"].items():
        for method, op in path_item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            op_id = op["operationId"]
            seen_ids.add(op_id)
            entry = OPERATIONS.get(op_id)
            if entry is None:
                failures.append(f"{op_id}: not in OPERATIONS")
                continue
            if (entry.method, entry.path) != (method.upper(), path):
                failures.append(f"{op_id}: OPERATIONS says {entry.method} {entry.path}")
            targets: list[tuple[str, dict[str, Any], type[Any] | None, bool]] = []
            for media in (op.get("requestBody") or {}).get("content", {}).values():
                targets.append(("request", media, entry.request_model, False))
            for status, response in op["responses"].items():
                if status.startswith("2"):
                    for media in (response.get("content") or {}).values():
                        targets.append((status, media, entry.response_model, entry.is_list))
            for where, media, model, as_list in targets:
                for name, body in examples_of(spec, media):
                    label = f"{op_id} {where} {name!r}"
                    if model is None:
                        failures.append(f"{label}: example but no model")
                        continue
                    invalid = INVALID_EXAMPLES.get((op_id, where, name))
                    if invalid is not None:
                        known.append(f"{label}: not decoded: {invalid}")
                        continue
                    reason = KNOWN_EXCEPTIONS.get((op_id, where, name)) or KNOWN_EXCEPTIONS.get(
                        (op_id, where, "*")
                    )
                    if reason is not None:
                        known.append(f"{label}: {reason}")
                        as_list = False
                    checked += 1
                    failures += [f"{label}: {p}" for p in check_body(body, model, entry, as_list)]
    for op_id in sorted(set(OPERATIONS) - seen_ids):
        failures.append(f"{op_id}: in OPERATIONS but not in the spec")

    declared_failures, declared = check_declared(seen_ids)
    failures += declared_failures
    enum_failures, enum_fields = check_enums(spec)
    failures += enum_failures

    print(f"checked {checked} example bodies of {len(seen_ids)} operations")
    print(f"declared by the client: {declared}/{len(seen_ids)} operations")
    spelled = enum_fields - len(enum_failures)
    print(f"enum fields spelled as the spec spells them: {spelled}/{enum_fields}")
    for line in known:
        print(f"known: {line}")
    for line in failures:
        print(f"FAIL: {line}")
    print("OK" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
