"""POST /slack/events: Slack's Events API (signed by Slack; no JWT)."""

import json

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.http_api import create_app
from slack_integration.observability import logger, metrics, tracer

app = create_app()


@app.post("/slack/events")
def slack_events():  # no return annotation: Powertools cannot build a schema for Response
    event = app.current_event
    # The signature covers the raw body exactly as Slack sent it: never re-serialise it first.
    answer = dependencies.current().slack_events.receive(
        event.decoded_body or "", event.headers or {}, app.lambda_context
    )
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=json.dumps(answer))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
