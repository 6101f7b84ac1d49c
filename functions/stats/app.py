"""GET /integration/stats?start=&end=: the caller's messaging KPIs (last 24 hours by default)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.http_api import caller_user_id, create_app
from slack_integration.models.api import MessagingStats
from slack_integration.observability import logger, metrics, tracer

app = create_app()
# Documented as date-time; parsed (strictly) by the stats service, which answers 422 INVALID_WINDOW.
_DATE_TIME = {"format": "date-time"}


@app.get("/integration/stats")
def stats(
    start: Annotated[
        str | None, Query(description="RFC 3339; default end - 24 h", json_schema_extra=_DATE_TIME)
    ] = None,
    end: Annotated[
        str | None, Query(description="RFC 3339; default now; at most 31 days", json_schema_extra=_DATE_TIME)
    ] = None,
) -> MessagingStats:
    return dependencies.current().stats.for_user(caller_user_id(app), start, end)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
