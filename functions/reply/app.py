"""Reply queue consumer: posts each follow-up in the Slack thread of every delivery of its
original message (see README "Queue contract" and "Failure policy")."""

# Before anything imports pydantic: Powertools' batch module, finding pydantic loaded, would build
# its parser models for every event source (SQS, DynamoDB, Kinesis, Kafka...) only to annotate
# the `model=` parameter this consumer never passes, about 35 ms of each cold start.
import aws_lambda_powertools.utilities.batch  # noqa: F401
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return dependencies.current().reply_consumer.handle(event, context)
