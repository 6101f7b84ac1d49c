"""GET /messages/{internalMessageId}/thread: the caller's thread of one tracked message."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.http_api import caller_user_id, create_app
from slack_integration.models.api import ThreadAnswer
from slack_integration.observability import logger, metrics, tracer

app = create_app()


@app.get("/messages/<internal_message_id>/thread")
def thread(
    internal_message_id: Annotated[str, Path(min_length=1, max_length=256)],
    slack: Annotated[bool, Query(description="Also read the thread from Slack (cached, rate-limited)")] = False,
) -> ThreadAnswer:
    return dependencies.current().threads.thread(caller_user_id(app), internal_message_id, include_slack=slack)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
