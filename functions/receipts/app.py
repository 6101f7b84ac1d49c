"""Delivery receipts: the deliveries table's stream -> EventBridge (one event per final outcome)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    retry_from = dependencies.current().receipts.publish(event.get("Records") or [])
    # ReportBatchItemFailures: the stream resumes at the first receipt EventBridge did not take.
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in retry_from]}
