"""The HTTP API's OpenAPI document, generated from the handlers themselves (Powertools builds each
function's part from its routes and pydantic models); the committed openapi.json is this output.

    python -m local.openapi > openapi.json     (make openapi)
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

from local.template import ROOT, http_routes, public_routes

TITLE = "Buster Slack messaging API"
VERSION = "1.0.0"


def document() -> dict[str, Any]:
    merged: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Dashboard-facing routes need a JWT (Authorization: Bearer ...) issued by the "
            "dashboard's identity provider; the caller is its `sub` claim. Slack's own two routes are "
            "public: the OAuth callback (its single-use state is the proof) and the events (Slack signs them).",
        },
        "paths": {},
        "components": {
            "schemas": {},
            "securitySchemes": {"dashboardJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"dashboardJwt": []}],
    }
    for directory in sorted(set(http_routes().values())):
        spec = importlib.util.spec_from_file_location(f"openapi_{directory}", ROOT / "functions" / directory / "app.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        part = json.loads(module.app.get_openapi_json_schema(title=TITLE, version=VERSION))
        for path, operations in part.get("paths", {}).items():
            merged["paths"].setdefault(path.replace("<", "{").replace(">", "}"), {}).update(operations)
        merged["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
    _errors_as_served(merged)
    _slacks_routes(merged)
    merged["paths"] = dict(sorted(merged["paths"].items()))
    merged["components"]["schemas"] = dict(sorted(merged["components"]["schemas"].items()))
    return merged


# What slack_integration.http_api answers on failure, by status (README "HTTP API").
ERROR_STATUSES = {
    "400": "The body is not JSON.",
    "404": "No Slack integration for the caller, or not the caller's thread.",
    "409": "The integration must be reconnected, or the channel cannot take notifications.",
    "415": "The body is not sent as application/json.",
    "422": "The request has the wrong shape.",
    "502": "Slack answered something unexpected.",
    "503": "Slack or AWS is unavailable or rate-limiting (Retry-After when Slack gave one).",
}


def _errors_as_served(document: dict[str, Any]) -> None:
    """Powertools documents its own 422 shape; ours is {"error", "code"} for every failure. Path
    parameters take the template's names (the route is /messages/{internalMessageId}/thread)."""
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    schemas["ErrorAnswer"] = {
        "type": "object",
        "required": ["error", "code"],
        "properties": {
            "error": {"type": "string", "description": "What to do, for a person"},
            "code": {"type": "string", "description": "Machine code, e.g. INTEGRATION_NOT_FOUND"},
        },
    }
    schemas["GatewayError"] = {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string", "example": "Unauthorized"}},
    }
    renamed: dict[str, Any] = {}
    for path, operations in document["paths"].items():
        path = path.replace("{internal_message_id}", "{internalMessageId}")
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "internal_message_id":
                    parameter["name"] = "internalMessageId"
            responses = {"200": operation["responses"]["200"]}
            for status, description in ERROR_STATUSES.items():
                if status in ("400", "415") and "requestBody" not in operation:
                    continue
                responses[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorAnswer"}}},
                }
            # API Gateway's JWT authorizer answers this one itself; the function never runs.
            responses["401"] = {
                "description": "No valid JWT (answered by API Gateway's authorizer).",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayError"}}},
            }
            operation["responses"] = dict(sorted(responses.items()))
        renamed[path] = operations
    document["paths"] = renamed


def _slacks_routes(document: dict[str, Any]) -> None:
    """The public routes: no JWT, and answers of their own (a redirect; Slack's signature)."""
    for method, path in public_routes():
        operation = document["paths"][path][method.lower()]
        operation["security"] = []
        if path == "/slack/oauth/callback":
            operation["parameters"] = [
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in ("code", "state", "error")
            ]
            operation["responses"] = {
                "302": {
                    "description": "Back to the dashboard (DashboardOrigin + DashboardReturnPath) with "
                    "?slack=connected or ?slack=error&code=CODE; never anywhere else.",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                }
            }
        else:
            responses = operation["responses"]
            responses["200"] = {
                "description": '{"challenge"} for url_verification, else {"ok": true}.',
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
            responses["401"] = {
                "description": "No valid, current X-Slack-Signature (SIGNATURE_INVALID).",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorAnswer"}}},
            }
            for status in ("404", "409"):
                responses.pop(status, None)


def main() -> int:
    sys.stdout.write(json.dumps(document(), indent=2, sort_keys=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
