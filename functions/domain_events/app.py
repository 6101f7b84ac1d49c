"""Buster's domain events (EventBridge rules -> the domain events queue) -> send and reply queues."""

# First, before anything imports pydantic: Powertools' batch module, finding pydantic loaded, would
# build its parser models for every event source only to annotate the `model=` parameter this
# function never passes, about 35 ms of each cold start.
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.observability import logger, metrics, tracer

# A batch whose every record failed is reported item by item too (not as an invocation error).
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    # A failure (a malformed event, SQS unavailable) is retried by SQS, then dead-lettered by its
    # redrive policy with the message as EventBridge put it.
    dependencies.current().domain_events.handle(record.json_body)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
