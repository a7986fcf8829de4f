"""docs/openapi.yaml stays true to the code: every route the app serves is documented and
nothing else is, path parameters carry the routes' patterns, the request models' fields and
limits are the pydantic models', enums are the code's tables, and who may call each action is
what the workflow tables say. No network, no service started: the route tables are the
``ROUTES`` class attributes that bot/app.py registers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from bot.api.auth import ROLES
from bot.api.commune import CommuneApi
from bot.api.feeds import Feeds
from bot.api.knowledge import EntryIn, EntryPatch, KnowledgeApi, PromoteIn
from bot.api.notices import NoticeIn, NoticesApi, Translation
from bot.api.provinces import ProvinceNoticeIn, ProvincesApi
from bot.api.staff import StaffApi
from bot.feedback import workflow as ticket_workflow
from bot.feedback.api import ActionIn, FeedbackApi, TicketIn
from bot.feedback.categories import CATEGORIES as TICKET_CATEGORIES
from bot.notices import workflow

DOC = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
NOT_HERE = "/open311"  # Open311 GeoReport v2 is documented on its own

#: each API class with the actions its ``{action:[a-z]+}`` route dispatches to
SOURCES: tuple[tuple[type, dict[str, Any]], ...] = (
    (NoticesApi, workflow.ACTIONS),
    (FeedbackApi, ticket_workflow.STAFF_ACTIONS),
    (Feeds, {}),
    (CommuneApi, {}),
    (StaffApi, StaffApi.ACTIONS),
    (KnowledgeApi, {}),
    (ProvincesApi, {}),
)
ACTION_ROLES = {
    "/notices/{id}/": {a: set(rule.roles) for a, rule in workflow.ACTIONS.items()},
    "/tickets/{ticket}/": {a: set(rule.roles) for a, rule in ticket_workflow.STAFF_ACTIONS.items()},
}
CONSTRAINTS = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
)


class _UniqueKeys(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a second ``/path:`` would hide the first."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        twice = {k for k in keys if keys.count(k) > 1}
        if twice:
            raise yaml.constructor.ConstructorError(
                None, None, f"keys given twice: {sorted(map(str, twice))}", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return yaml.load(DOC.read_text(encoding="utf-8"), Loader=_UniqueKeys)


def split_route(path: str) -> tuple[str, dict[str, str | None]]:
    r"""aiohttp's ``/a/{code:\d{5}}/b/{id}`` → (``/a/{code}/b/{id}``, {code: ``\d{5}``,
    id: None}); a pattern may itself hold braces."""
    out: list[str] = []
    params: dict[str, str | None] = {}
    i = 0
    while i < len(path):
        if path[i] != "{":
            out.append(path[i])
            i += 1
            continue
        depth, j = 1, i + 1
        while depth:
            depth += {"{": 1, "}": -1}.get(path[j], 0)
            j += 1
        name, _, pattern = path[i + 1 : j - 1].partition(":")
        params[name] = pattern or None
        out.append("{" + name + "}")
        i = j
    return "".join(out), params


def code_operations() -> dict[tuple[str, str], dict[str, str | None]]:
    """(METHOD, OpenAPI path) → the path's parameter patterns, ``{action}`` expanded."""
    ops: dict[tuple[str, str], dict[str, str | None]] = {}
    for api, actions in SOURCES:
        for method, route, handler in api.ROUTES:
            assert callable(getattr(api, handler, None)), f"{api.__name__}.{handler}"
            template, params = split_route(route)
            if "action" not in params:
                ops[(method.upper(), template)] = params
                continue
            pattern = params.pop("action")
            assert actions, f"{api.__name__}: {route} has an action but no action table"
            for action in actions:
                assert pattern and re.fullmatch(pattern, action), (route, action)
                ops[(method.upper(), template.replace("{action}", action))] = params
    return ops


def doc_operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        if not path.startswith(NOT_HERE)
        for method, op in item.items()
        if method in HTTP_METHODS
    }


def resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        assert node["$ref"].startswith("#/"), node["$ref"]
        target: Any = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def test_parses_as_openapi_3_1(doc):
    assert re.fullmatch(r"3\.1\.\d+", str(doc["openapi"])), doc["openapi"]
    assert doc["info"]["title"] and doc["info"]["version"]
    assert "/open311/v2" in doc["info"]["description"]
    assert not [p for p in doc["paths"] if p.startswith(NOT_HERE)], "Open311 is documented apart"


def test_valid_openapi_document(doc):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(doc)


def test_examples_match_their_schemas(doc):
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT202012

    registry = referencing.Registry().with_resource(
        "urn:openapi", referencing.Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    problems: list[str] = []

    def check(node: Any, pointer: str) -> None:
        if isinstance(node, dict):
            if (
                "schema" in node
                and ("example" in node or "examples" in node)
                and "json" in pointer.rsplit("/", 1)[-1]
            ):
                validator = jsonschema.Draft202012Validator(
                    {"$ref": f"urn:openapi{pointer}/schema"}, registry=registry
                )
                examples = {"example": node["example"]} if "example" in node else {}
                examples |= {
                    k: resolve(doc, e)["value"] for k, e in (node.get("examples") or {}).items()
                }
                problems.extend(
                    f"{pointer} {name}: {err.message}"
                    for name, value in examples.items()
                    for err in validator.iter_errors(value)
                )
            for key, value in node.items():
                check(value, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                check(value, f"{pointer}/{i}")

    check(doc["paths"], "#/paths")
    for section in ("responses", "requestBodies"):
        check(doc["components"][section], f"#/components/{section}")
    assert not problems, "\n".join(problems)


def test_routes_match_the_document(doc):
    in_code, in_doc = set(code_operations()), set(doc_operations(doc))
    assert in_code == in_doc, (
        f"served but not documented: {sorted(in_code - in_doc)}\n"
        f"documented but not served: {sorted(in_doc - in_code)}"
    )


def test_path_parameters_carry_the_route_patterns(doc):
    for (method, path), patterns in code_operations().items():
        item = doc["paths"][path]
        declared = [
            resolve(doc, p)
            for p in item.get("parameters", []) + item[method.lower()].get("parameters", [])
        ]
        in_path = {p["name"]: p for p in declared if p["in"] == "path"}
        assert set(in_path) == set(patterns), (method, path, set(in_path))
        for name, pattern in patterns.items():
            param = in_path[name]
            schema = resolve(doc, param["schema"])
            assert param["required"] is True, (path, name)
            if pattern == r"\d{1,18}":  # ids: what a BIGINT column holds
                assert schema["type"] == "integer" and schema.get("minimum", 0) >= 0, (path, name)
                assert schema.get("maximum", 10**19) <= 10**18 - 1, (path, name)
            else:
                assert schema.get("pattern") == f"^{pattern}$", (path, name, schema)


def test_every_operation_says_who_may_call_it_and_what_comes_back(doc):
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert not doc.get("security"), "security is declared per operation"
    for (method, path), op in doc_operations(doc).items():
        where = f"{method} {path}"
        assert op.get("operationId") and op.get("summary"), where
        statuses = {str(s) for s in op["responses"]}
        assert any(s.startswith("2") for s in statuses), where
        if path.startswith("/feeds/"):
            assert all(not requirement for requirement in op.get("security", [])), where
            assert "x-roles" not in op, where
            continue
        assert op.get("security") == [{"bearerAuth": []}], where
        assert "401" in statuses, where
        roles = op.get("x-roles")
        assert roles and set(roles) <= set(ROLES), where
        for marker, table in ACTION_ROLES.items():
            head, _, action = path.rpartition("/")
            if (head + "/").endswith(marker) and action in table:
                assert set(roles) == table[action], (where, roles, table[action])
                assert "403" in statuses, where


@pytest.mark.parametrize(
    "name, model",
    [
        ("NoticeIn", NoticeIn),
        ("ProvinceNoticeIn", ProvinceNoticeIn),
        ("Translation", Translation),
        ("TicketIn", TicketIn),
        ("ActionIn", ActionIn),
        ("KnowledgeEntryIn", EntryIn),
        ("KnowledgeEntryPatch", EntryPatch),
        ("PromoteIn", PromoteIn),
    ],
)
def test_request_schemas_are_the_pydantic_models(doc, name: str, model: type[BaseModel]):
    schema = doc["components"]["schemas"][name]
    forbids = model.model_config.get("extra") == "forbid"
    assert (schema.get("additionalProperties") is False) == forbids, name
    assert set(schema["properties"]) == set(model.model_fields), name
    required = {k for k, f in model.model_fields.items() if f.is_required()}
    assert set(schema.get("required", [])) == required, name
    theirs = model.model_json_schema()["properties"]
    for field, prop in schema["properties"].items():
        ours = {**resolve(doc, prop), **{k: v for k, v in prop.items() if k != "$ref"}}
        parts = [theirs[field], *theirs[field].get("anyOf", [])]
        expected = {k: part[k] for part in parts for k in CONSTRAINTS if k in part}
        assert {k: ours[k] for k in CONSTRAINTS if k in ours} == expected, (name, field)
        nullable = any(part.get("type") == "null" for part in parts)
        types = ours.get("type")
        assert ("null" in types if isinstance(types, list) else False) == nullable, (name, field)


def test_enums_are_the_code_tables(doc):
    schemas = doc["components"]["schemas"]
    assert schemas["NoticeCategory"]["enum"] == list(workflow.CATEGORIES)
    assert schemas["NoticePriority"]["enum"] == list(workflow.PRIORITIES)
    states = (
        workflow.EDITABLE
        | workflow.FINAL
        | {s for rule in workflow.ACTIONS.values() for s in (*rule.from_states, rule.to_state)}
    )
    assert set(schemas["NoticeStatus"]["enum"]) == states
    cap = schemas["CapParameters"]["properties"]
    for i, key in enumerate(("urgency", "severity", "certainty")):
        assert {p[i] for p in workflow.PRIORITIES.values()} == set(cap[key]["enum"]), key
    assert schemas["TicketCategory"]["enum"] == list(TICKET_CATEGORIES)
    assert schemas["TicketStatus"]["enum"] == list(ticket_workflow.STATES)
