#!/usr/bin/env python3
"""Checks the server's real answers against its OpenAPI 3.1 document.

Usage: check_openapi.py OPENAPI_JSON ANSWERS_JSONL

Each line of ANSWERS_JSONL is {"method": "post", "path": "/api/sync", "status": 400, "body": <JSON or null>}.
The document is checked first (OpenAPI 3.1, every schema valid JSON Schema 2020-12, every $ref resolvable); then
each answer's status must be documented for its operation and its body must match that status's schema.
Exits 0 when all match, 1 listing every mismatch, 2 on bad usage. Needs the jsonschema package (pip install jsonschema);
with openapi-spec-validator installed too, the document is also checked against the OpenAPI 3.1 specification.
"""
import json
import sys

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:filamentdb:openapi"


def pointer(*parts):
    return "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    problems = []
    if not str(doc.get("openapi", "")).startswith("3.1"):
        problems.append(f"openapi is {doc.get('openapi')!r}, expected 3.1.x")
    try:
        from openapi_spec_validator import validate
    except ImportError:
        print("openapi-spec-validator is not installed: the document's structure is not checked against the OpenAPI 3.1 specification")
    else:
        try:
            validate(doc)
        except Exception as error:  # noqa: BLE001 - the validator's finding is the report
            problems.append(f"not a valid OpenAPI 3.1 document: {error}")
    registry = Registry().with_resource(BASE, Resource.from_contents(doc, default_specification=DRAFT202012))
    resolver = registry.resolver(base_uri=BASE)
    for ref in sorted(set(refs(doc))):
        try:
            resolver.lookup(ref)
        except Exception as error:  # noqa: BLE001 - any failure to resolve is the finding
            problems.append(f"$ref {ref} does not resolve: {error}")
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as error:  # noqa: BLE001
            problems.append(f"components.schemas.{name} is not a valid JSON Schema: {error}")

    count = 0
    with open(argv[2], encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            answer = json.loads(line)
            method, path, status = answer["method"].lower(), answer["path"], str(answer["status"])
            where = f"line {number}: {method.upper()} {path} {status}"
            operation = doc.get("paths", {}).get(path, {}).get(method)
            if operation is None:
                problems.append(f"{where}: the operation is not in the document")
                continue
            response = operation.get("responses", {}).get(status)
            if response is None:
                problems.append(f"{where}: status {status} is not documented for this operation")
                continue
            count += 1
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if answer.get("body") is None:
                if schema is not None:
                    problems.append(f"{where}: no JSON body, but the document gives one")
                continue
            if schema is None:
                problems.append(f"{where}: a JSON body, but the document gives none")
                continue
            ref = "#/" + pointer("paths", path, method, "responses", status, "content", "application/json", "schema")
            validator = Draft202012Validator({"$ref": BASE + ref}, registry=registry)
            for error in validator.iter_errors(answer["body"]):
                location = "/".join(str(p) for p in error.absolute_path) or "(the body)"
                problems.append(f"{where}: {location}: {error.message}")

    for problem in problems:
        print(problem)
    print(f"checked {count} answers against {argv[1]}: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
