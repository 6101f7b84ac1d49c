"""PUT and GET /integration/channel: set or read the caller's notification channel."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.http_api import caller_user_id, create_app
from slack_integration.models.api import ChannelSelection, ChannelSetAnswer, NotificationChannelAnswer
from slack_integration.observability import logger, metrics, tracer

app = create_app()


@app.put("/integration/channel")
def set_channel(selection: Annotated[ChannelSelection, Body()]) -> ChannelSetAnswer:
    return dependencies.current().channels.set_notification_channel(caller_user_id(app), selection)


@app.get("/integration/channel")
def get_channel() -> NotificationChannelAnswer:
    return dependencies.current().channels.get_notification_channel(caller_user_id(app))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
