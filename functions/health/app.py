"""Scheduled health sweep: checks every active integration's token and channel, stalest first."""

import time

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    services = dependencies.current()
    settings = services.settings
    result = services.health.sweep(
        deadline=time.time() + context.get_remaining_time_in_millis() / 1000,
        concurrency=settings.health_concurrency,
        page_size=settings.health_page_size,
    )
    metrics.add_metric(name="IntegrationsChecked", unit=MetricUnit.Count, value=result.checked)
    metrics.add_metric(name="HealthyIntegrations", unit=MetricUnit.Count, value=result.healthy)
    metrics.add_metric(name="UnhealthyIntegrations", unit=MetricUnit.Count, value=result.unhealthy)
    metrics.add_metric(name="HealthChecksThrottled", unit=MetricUnit.Count, value=result.throttled)
    metrics.add_metric(name="HealthSweepIncomplete", unit=MetricUnit.Count, value=0 if result.complete else 1)
    return result.summary()
