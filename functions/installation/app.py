"""Add to Slack and disconnect: POST /integration/install, GET /slack/oauth/callback, DELETE /integration."""

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration import dependencies
from slack_integration.http_api import api_host, caller_user_id, create_app
from slack_integration.models.api import Disconnected, InstallStarted
from slack_integration.observability import logger, metrics, tracer

app = create_app()


@app.post("/integration/install")
def start_install() -> InstallStarted:
    url = dependencies.current().install_flow.start(caller_user_id(app), api_host(app))
    return InstallStarted(url=url)


@app.get("/slack/oauth/callback")
def oauth_callback():  # no return annotation: Powertools cannot build a schema for Response
    # Public: Slack's redirect brings the browser here; the state it carries is the proof.
    query = app.current_event.query_string_parameters or {}
    location = dependencies.current().install_flow.finish(query, api_host(app))
    # no-store: the answer is single-use; no-referrer: the dashboard never sees the code in a Referer.
    headers = {"Location": location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return Response(status_code=302, headers=headers, body="")


@app.delete("/integration")
def disconnect() -> Disconnected:
    dependencies.current().installation.disconnect(caller_user_id(app))
    return Disconnected(success=True)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
