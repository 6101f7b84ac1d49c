"""The HTTP side of the service: the one place where errors become HTTP answers.

Every function behind the HTTP API builds its resolver with `create_app()`, so every route
answers errors the same way: `{"error": <message a person can act on>, "code": <MACHINE_CODE>}`
with a status chosen from the error's kind below. No stack trace or token ever reaches a body.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.metrics import MetricUnit

from slack_integration import dependencies
from slack_integration.errors import (
    FEATURE_DISABLED,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    ROUTE_NOT_FOUND,
    UNAUTHENTICATED,
    ErrorKind,
    ServiceError,
)
from slack_integration.observability import logger, metrics

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.INVALID_INPUT: 422,
    ErrorKind.NOT_FOUND: 404,
    # Both are states of the user's integration that only the user can change (reconnect, pick
    # another channel). Not 401/403: those would tell the dashboard its own session is bad.
    ErrorKind.RECONNECT_REQUIRED: 409,
    ErrorKind.CHANNEL_UNUSABLE: 409,
    ErrorKind.MESSAGE_REJECTED: 422,
    ErrorKind.RATE_LIMITED: 503,
    ErrorKind.UPSTREAM_UNAVAILABLE: 503,
    ErrorKind.UPSTREAM_ERROR: 502,
    ErrorKind.NOT_READY: 409,
    ErrorKind.INTERNAL: 500,
}

# What the dashboard is told to wait while the API is switched off.
DISABLED_RETRY_AFTER_SECONDS = 300
# When Slack gave no Retry-After, tell the dashboard something sensible rather than nothing.
DEFAULT_RETRY_AFTER_SECONDS = 30


def error_response(error: ServiceError, status: int | None = None) -> Response:
    headers: dict[str, str] = {}
    if error.kind is ErrorKind.RATE_LIMITED or error.retry_after is not None:
        headers["Retry-After"] = str(round(error.retry_after or DEFAULT_RETRY_AFTER_SECONDS))
    return Response(
        status_code=status or STATUS_BY_KIND[error.kind],
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": error.message, "code": error.code}),
        headers=headers,
    )


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for err in errors[:5]:
        field = ".".join(str(part) for part in err.get("loc", ()) if part != "body") or "body"
        message = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        if err.get("type") == "missing" and field == "body":
            return "A JSON request body is required."
        parts.append(f"{field}: {message}")
    return "Invalid request. " + "; ".join(parts)


_UNSUPPORTED_MEDIA_TYPE = "Send the request body as JSON (Content-Type: application/json)."


def _sent_json(app: APIGatewayHttpResolver) -> bool:
    content_type = (app.current_event.headers or {}).get("content-type") or ""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return not media_type or media_type == "application/json" or media_type.endswith("+json")


# Reads of saved data that stay on while the API is disabled (ApiEnabled=false): they touch
# neither Slack nor anything a rollback needs frozen.
_READS_OF_SAVED_DATA = re.compile(r"^/(integration/channel|integration/stats|messages/[^/]+/thread)$")


def _api_switch(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """The operator's switch (README "Operations"): while off, Slack calls and changes answer 503."""
    event = app.current_event
    # Slack's own routes are not the dashboard's: the callback redirects the browser with the
    # code FEATURE_DISABLED itself, and Slack's events (an uninstall) are still acted on.
    if (
        not dependencies.current().settings.api_enabled
        and not event.path.startswith("/slack/")
        and not (event.http_method == "GET" and _READS_OF_SAVED_DATA.match(event.path))
    ):
        return error_response(FEATURE_DISABLED.error(retry_after=DISABLED_RETRY_AFTER_SECONDS))
    return next_middleware(app)


def create_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    app.use(middlewares=[_api_switch])

    @app.exception_handler(ServiceError)
    def _service_error(error: ServiceError) -> Response:
        # A caller's own mistake (a 4xx it can fix) is not an operator's warning.
        callers = (ErrorKind.INVALID_INPUT, ErrorKind.NOT_FOUND, ErrorKind.UNAUTHENTICATED)
        log = (
            logger.error
            if error.kind is ErrorKind.INTERNAL
            else logger.info
            if error.kind in callers
            else logger.warning
        )
        log("Request failed", extra={"code": error.code, "kind": error.kind.value, "slack_error": error.slack_error})
        metrics.add_metric(name="RequestErrors", unit=MetricUnit.Count, value=1)
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response:
        if not _sent_json(app):
            # Powertools read a form (curl's default) into fields: the body's fault is its type,
            # not a missing or malformed field, whatever the validation found.
            unsupported = ServiceError("UNSUPPORTED_MEDIA_TYPE", _UNSUPPORTED_MEDIA_TYPE, ErrorKind.INVALID_INPUT)
            return error_response(unsupported, status=415)
        errors = list(error.errors())
        if any(err.get("type") == "json_invalid" for err in errors):
            invalid = ServiceError(INVALID_REQUEST.code, "The request body is not valid JSON.", ErrorKind.INVALID_INPUT)
            return error_response(invalid, status=400)
        invalid = ServiceError(INVALID_REQUEST.code, _validation_message(errors), ErrorKind.INVALID_INPUT)
        logger.info("Invalid request", extra={"error": invalid.message})
        return error_response(invalid)

    @app.exception_handler(RequestUnsupportedContentType)
    def _not_json(_: RequestUnsupportedContentType) -> Response:
        unsupported = ServiceError("UNSUPPORTED_MEDIA_TYPE", _UNSUPPORTED_MEDIA_TYPE, ErrorKind.INVALID_INPUT)
        return error_response(unsupported, status=415)

    @app.exception_handler(RecursionError)
    def _too_deep(_: RecursionError) -> Response:
        # json.loads gives up on bodies nested thousands deep before any route runs.
        too_deep = ServiceError(INVALID_REQUEST.code, "The request body is nested too deeply.", ErrorKind.INVALID_INPUT)
        return error_response(too_deep, status=400)

    @app.exception_handler(ValueError)
    def _unparsable(error: ValueError) -> Response:
        # Powertools decodes the body (base64, then UTF-8) and parses form and multipart bodies by
        # their Content-Type before any route runs; what fails there is the caller's body.
        if isinstance(error, (UnicodeError, binascii.Error)):
            undecodable = ServiceError(
                INVALID_REQUEST.code, "The request body is not UTF-8 encoded JSON.", ErrorKind.INVALID_INPUT
            )
            return error_response(undecodable, status=400)
        if not _sent_json(app):
            unsupported = ServiceError("UNSUPPORTED_MEDIA_TYPE", _UNSUPPORTED_MEDIA_TYPE, ErrorKind.INVALID_INPUT)
            return error_response(unsupported, status=415)
        return _unexpected(error)

    @app.exception_handler(NotFoundError)
    def _no_route(_: NotFoundError) -> Response:
        return error_response(ROUTE_NOT_FOUND.error())

    @app.exception_handler(Exception)
    def _unexpected(_: Exception) -> Response:
        # A bug of ours: log the trace for us, answer a fixed message to the caller.
        logger.exception("Unhandled error")
        metrics.add_metric(name="RequestErrors", unit=MetricUnit.Count, value=1)
        return error_response(INTERNAL_ERROR.error())

    return app


def caller_user_id(app: APIGatewayHttpResolver) -> str:
    """The caller's user id: the JWT authorizer's verified `sub` claim, and nothing else.

    Never the body, the query or a header: those are whatever the client wants them to be.
    """
    request_context = app.current_event.raw_event.get("requestContext") or {}
    authorizer = request_context.get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise UNAUTHENTICATED.error()
    return subject


def api_host(app: APIGatewayHttpResolver) -> str:
    """The host this request came to (API Gateway's own or a custom domain), for URLs back to us."""
    request_context = app.current_event.raw_event.get("requestContext") or {}
    return str(request_context.get("domainName") or "localhost")
