"""GET /integration/channels: the public channels the caller can pick as notification channel."""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.http_api import caller_user_id, create_app
from slack_integration.models.api import ChannelList
from slack_integration.observability import logger, metrics, tracer

app = create_app()


@app.get("/integration/channels")
def list_channels() -> ChannelList:
    return dependencies.current().channels.list_channels(caller_user_id(app))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
