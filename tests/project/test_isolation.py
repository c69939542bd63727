"""TEN-01: every operation under /dashapi/projects/{project_id}, generated from the OpenAPI
document, answers 401 to anonymous callers, 404 to strangers and 403 below its minimum role.

A new route is picked up automatically. GET defaults to viewer; any other method must declare
its minimum role, either in `POLICY` below or on the route itself with
`openapi_extra={"x-min-role": "member"}`; an undeclared one fails the build.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.factories import Factory
from whowhywhen.app import Mode, create_app
from whowhywhen.config import Settings
from whowhywhen.models.enums import Role
from whowhywhen.project.service import at_least

PREFIX = "/dashapi/projects/{project_id}"
P = PREFIX
POLICY: dict[tuple[str, str], Role] = {
    ("PATCH", P): Role.admin,
    ("DELETE", P): Role.owner,
    ("POST", f"{P}/transfer"): Role.owner,
    ("POST", f"{P}/leave"): Role.viewer,
    ("PATCH", f"{P}/members/{{user_id}}"): Role.admin,
    ("DELETE", f"{P}/members/{{user_id}}"): Role.admin,
    ("GET", f"{P}/invitations"): Role.admin,
    ("POST", f"{P}/invitations"): Role.admin,
    ("DELETE", f"{P}/invitations/{{invitation_id}}"): Role.admin,
    ("GET", f"{P}/apikeys"): Role.admin,
    ("POST", f"{P}/apikeys"): Role.admin,
    ("DELETE", f"{P}/apikeys/{{key_id}}"): Role.admin,
}
ROLES = [Role.viewer, Role.member, Role.admin, Role.owner]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    minimum: Role | None
    streaming: bool = False

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _operations() -> list[Operation]:
    settings = Settings(WHOWHYWHEN_DATA_DIR=Path("/nonexistent-isolation"), SECRET_KEY="t" * 48)
    spec: dict[str, Any] = create_app(settings, Mode.all).openapi()
    found = []
    for path, item in spec["paths"].items():
        if not path.startswith(PREFIX):
            continue
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            declared = operation.get("x-min-role") or POLICY.get((method.upper(), path))
            if declared is None and method == "get":
                declared = Role.viewer
            streaming = "text/event-stream" in str(operation.get("responses", {}).get("200", {}))
            found.append(
                Operation(method.upper(), path, Role(declared) if declared else None, streaming)
            )
    return found


OPERATIONS = _operations()


def test_the_generated_matrix_covers_the_known_routes() -> None:
    listed = {(op.method, op.path) for op in OPERATIONS}
    assert set(POLICY) <= listed
    assert ("GET", PREFIX) in listed
    assert ("GET", f"{P}/members") in listed


def _url(path: str, project_id: int) -> str:
    url = path.replace("{project_id}", str(project_id))
    return re.sub(r"\{[^}]+\}", "999999", url)


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
async def test_operation_enforces_membership_and_role(
    operation: Operation, client: httpx2.AsyncClient, factory: Factory
) -> None:
    assert operation.minimum is not None, (
        f"{operation} declares no minimum role: add it to POLICY in {__file__} "
        'or to the route with openapi_extra={"x-min-role": "<role>"}'
    )
    project = await factory.project()
    stranger = await factory.project()  # owns another project: no rights here
    url = _url(operation.path, project.id)
    has_other_params = operation.path.count("{") > 1

    async def call(headers: dict[str, str]) -> httpx2.Response | None:
        """The answer; None when an event stream (SSE) is still open, i.e. it was let in."""
        kwargs: dict[str, Any] = {"headers": headers}
        if operation.method != "GET":
            kwargs["json"] = {}
        request = client.request(operation.method, url, **kwargs)
        if not operation.streaming:
            return await request
        try:
            return await asyncio.wait_for(request, 3)
        except TimeoutError:
            return None

    anonymous = await call({})
    assert anonymous is not None
    assert anonymous.status_code == 401, anonymous.text
    garbage = await call({"Authorization": "Bearer not-a-token"})
    assert garbage is not None
    assert garbage.status_code == 401, garbage.text
    for key_headers in ({"Authorization": f"Bearer {project.key}"}, project.headers):
        ingest_key = await call(key_headers)  # an ingest key never opens the dashboard API
        assert ingest_key is not None
        assert ingest_key.status_code == 401, ingest_key.text
    outsider = await call(await factory.auth_headers(stranger.user))
    assert outsider is not None
    assert outsider.status_code == 404, outsider.text
    assert outsider.json()["detail"] == "project not found"

    for role in ROLES:
        user = project.user if role == Role.owner else await factory.member(project.id, role)
        response = await call(await factory.auth_headers(user))
        if response is None:  # streaming: it got past authorisation
            assert at_least(role, operation.minimum), role
            continue
        if at_least(role, operation.minimum):
            assert response.status_code not in (401, 403), (role, response.text)
            assert response.status_code < 500, (role, response.text)
            if not has_other_params:
                assert response.status_code != 404, (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)


def _response_schemas(spec: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for item in spec["paths"].values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                text = str(response.get("content", {}))
                names.update(re.findall(r"#/components/schemas/(\w+)", text))
    schemas = spec["components"]["schemas"]
    pending = list(names)
    while pending:
        schema = schemas.get(pending.pop(), {})
        for ref in re.findall(r"#/components/schemas/(\w+)", str(schema)):
            if ref not in names:
                names.add(ref)
                pending.append(ref)
    return names


def test_no_response_model_carries_a_hash_or_a_secret() -> None:
    """TEN-04: only the fields that exist to hand a secret over once are allowed."""
    settings = Settings(WHOWHYWHEN_DATA_DIR=Path("/nonexistent-isolation"), SECRET_KEY="t" * 48)
    spec = create_app(settings, Mode.all).openapi()
    allowed = {
        ("ApiKeyCreated", "key"),
        ("User", "has_password"),
        ("TotpSetup", "otpauth_uri"),
        ("Token", "totp_required"),
    }
    schemas = spec["components"]["schemas"]
    offenders = [
        (name, field)
        for name in _response_schemas(spec)
        for field in schemas.get(name, {}).get("properties", {})
        if re.search(r"hash|secret|totp|password|^key$", field, re.IGNORECASE)
        and (name, field) not in allowed
    ]
    assert offenders == []
