"""GET /messages and GET /messages/{internalMessageId}/thread: the caller's tracked notifications
(newest first, a page at a time) and the thread of one of them, both from our own records."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.http_api import caller_user_id, create_app
from slack_integration.models.api import MessageList, ThreadAnswer
from slack_integration.observability import logger, metrics, tracer
from slack_integration.services.messages import DEFAULT_PAGE, MAX_PAGE

app = create_app()


@app.get("/messages")
def messages(
    cursor: Annotated[
        str | None, Query(max_length=1024, description="`nextCursor` of the previous page; omit for the newest")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Messages per page")] = DEFAULT_PAGE,
) -> MessageList:
    return dependencies.current().messages.recent(caller_user_id(app), cursor=cursor, limit=limit)


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
