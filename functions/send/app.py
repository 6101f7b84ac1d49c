"""Send queue consumer: posts each notification to its user's notification channel (see README
"Queue contract" and "Failure policy")."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return dependencies.current().send_consumer.handle(event, context)
