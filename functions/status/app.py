"""GET /integration/status: can Buster post to the caller's notification channel right now?"""

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.http_api import caller_user_id, create_app
from slack_integration.models.api import CapabilityStatus
from slack_integration.observability import logger, metrics, tracer

app = create_app()


@app.get("/integration/status")
def status() -> CapabilityStatus:
    return dependencies.current().status.status(caller_user_id(app))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
