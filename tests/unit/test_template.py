"""template.yaml holds the contracts of design.md: runtime, routes, authorizer, least privilege."""

from __future__ import annotations

import json

import pytest

from slack_integration.config import Settings
from tests.support.events import sample
from tests.support.template import ROOT, global_environment, load_template, policies, resources

FUNCTIONS = resources("AWS::Serverless::Function")

# design.md's HTTP table: route -> function directory
ROUTES = {
    ("GET", "/integration/channels"): "list_channels",
    ("PUT", "/integration/channel"): "set_channel",
    ("GET", "/integration/channel"): "set_channel",
    # Added by the health / insights issue, in the same style.
    ("GET", "/integration/status"): "status",
    ("GET", "/messages/{internalMessageId}/thread"): "thread",
    # The reference dashboard's list of what was sent.
    ("GET", "/messages"): "thread",
    ("GET", "/integration/stats"): "stats",
    # The Slack app lifecycle.
    ("POST", "/integration/install"): "installation",
    ("GET", "/slack/oauth/callback"): "installation",
    ("DELETE", "/integration"): "installation",
    ("POST", "/slack/events"): "slack_events",
}
# Slack's own routes: Slack's redirect (the single-use state is the proof) and Slack's signed events.
PUBLIC_ROUTES = {("GET", "/slack/oauth/callback"), ("POST", "/slack/events")}


def _http_routes() -> dict[tuple[str, str], str]:
    routes = {}
    for resource in FUNCTIONS.values():
        code_dir = resource["Properties"]["CodeUri"].strip("/").split("/")[-1]
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                routes[(event["Properties"]["Method"], event["Properties"]["Path"])] = code_dir
    return routes


def test_globals_pin_the_lambda_runtime_and_architecture():
    function_globals = load_template()["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["x86_64"]
    assert function_globals["Handler"] == "app.lambda_handler"
    assert {"Ref": "SlackIntegrationLayer"} in function_globals["Layers"]


def test_the_layer_is_built_from_shared_with_python313():
    layer = resources("AWS::Serverless::LayerVersion")["SlackIntegrationLayer"]
    assert layer["Properties"]["ContentUri"] == "shared/"
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert (ROOT / "shared" / "requirements.txt").exists()


def test_routes_are_exactly_design_mds_table():
    assert _http_routes() == ROUTES


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_is_a_thin_app_py_with_a_lambda_handler(name):
    code_uri = FUNCTIONS[name]["Properties"]["CodeUri"]
    assert code_uri.startswith("functions/")
    source = (ROOT / code_uri / "app.py").read_text()
    assert "def lambda_handler(" in source
    # Handlers hold no Slack or AWS calls of their own: those live in the layer.
    assert "boto3" not in source and "WebClient" not in source


def test_every_dashboard_route_requires_the_jwt_authorizer():
    api = resources("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]
    assert api["Auth"]["DefaultAuthorizer"] == "DashboardJwt"
    jwt = api["Auth"]["Authorizers"]["DashboardJwt"]["JwtConfiguration"]
    assert jwt == {"issuer": {"Ref": "JwtIssuer"}, "audience": [{"Ref": "JwtAudience"}]}
    for resource in FUNCTIONS.values():
        for event in resource["Properties"].get("Events", {}).values():
            props = event["Properties"]
            if (props.get("Method"), props.get("Path")) in PUBLIC_ROUTES:
                assert props["Auth"] == {"Authorizer": "NONE"}
            else:
                assert "Auth" not in props, "no dashboard route may opt out of the authorizer"


def test_secrets_access_is_scoped_to_the_token_prefix_and_the_app_secret():
    """Bot tokens: read and renewed by every function that calls Slack, written by the install,
    deleted by disconnect and uninstall; the app's credentials: read only. Nothing else."""
    for name, resource in FUNCTIONS.items():
        for policy in policies(resource):
            for statement in policy["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in action for action in actions), name
                assert statement["Resource"] != "*", name
                if any(action.startswith("secretsmanager:") for action in actions):
                    target = statement["Resource"]["Fn::Sub"]
                    if target.endswith(":secret:${SlackAppSecretName}-??????"):
                        assert actions == ["secretsmanager:GetSecretValue"], name
                        continue
                    assert target.endswith(":secret:${TokenSecretPrefix}*"), name
                    writes = set(actions) - {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"}
                    allowed = {
                        "InstallationFunction": {"secretsmanager:CreateSecret", "secretsmanager:DeleteSecret"},
                        "SlackEventsFunction": {"secretsmanager:DeleteSecret"},
                    }.get(name, set())
                    assert writes <= allowed, (name, writes)


def test_every_required_setting_is_declared_by_the_template():
    declared = set(global_environment())
    required = {field.alias for field in Settings.model_fields.values() if field.is_required()}
    assert required <= declared
    optional = {field.alias for field in Settings.model_fields.values() if not field.is_required()}
    assert "SLACK_API_URL" in declared & optional


def test_tables_have_the_keys_design_md_fixes():
    tables = resources("AWS::DynamoDB::Table")
    mappings = tables["MessageMappingsTable"]["Properties"]
    assert mappings["KeySchema"] == [
        {"AttributeName": "internalMessageId", "KeyType": "HASH"},
        {"AttributeName": "integrationId", "KeyType": "RANGE"},
    ]
    assert {index["IndexName"] for index in mappings["GlobalSecondaryIndexes"]} == {"bySlackTs", "byIntegration"}
    integrations = tables["IntegrationsTable"]["Properties"]
    assert {index["IndexName"] for index in integrations["GlobalSecondaryIndexes"]} == {
        "byId",
        "byHealthCheck",
        "byTeam",
    }
    for table in tables.values():
        assert table["DeletionPolicy"] == "Retain"
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_outputs_name_the_api_and_the_tables():
    assert {"ApiUrl", "IntegrationsTableName", "MessageMappingsTableName"} <= set(load_template()["Outputs"])


@pytest.mark.parametrize(
    "name", ["list_channels.json", "get_channel.json", "set_channel.json", "status.json", "thread.json", "stats.json"]
)
def test_event_samples_match_a_template_route(name):
    event = sample(name)
    method, path = event["routeKey"].split(" ", 1)
    assert (method, path) in ROUTES
    assert event["version"] == "2.0"
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
    if "body" in event:
        json.loads(event["body"])


CONSUMERS = {
    "SendFunction": ("SendQueue", "SendDeadLetterQueue"),
    "ReplyFunction": ("ReplyQueue", "ReplyDeadLetterQueue"),
}


@pytest.mark.parametrize("function", sorted(CONSUMERS))
def test_each_consumer_reads_a_fifo_queue_with_a_fifo_dlq_and_reports_item_failures(function):
    queue_name, dlq_name = CONSUMERS[function]
    queues = resources("AWS::SQS::Queue")
    props = FUNCTIONS[function]["Properties"]
    [event] = props["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": [queue_name, "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["BatchSize"] <= 10  # FIFO's limit
    queue = queues[queue_name]["Properties"]
    dlq = queues[dlq_name]["Properties"]
    assert queue["FifoQueue"] is True and dlq["FifoQueue"] is True
    # AWS's guidance for Lambda consumers: visibility at least 6x the function timeout.
    assert queue["VisibilityTimeout"] >= 6 * props["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_name, "Arn"]}
    assert dlq["MessageRetentionPeriod"] >= queue["MessageRetentionPeriod"]
    # The consumer dead-letters on the same receive count the redrive policy uses.
    env = props["Environment"]["Variables"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == env["MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}
    assert env["QUEUE_URL"] == {"Ref": queue_name} and env["DEAD_LETTER_QUEUE_URL"] == {"Ref": dlq_name}


@pytest.mark.parametrize("function", sorted(CONSUMERS))
def test_consumers_may_only_touch_their_own_queues(function):
    queue_name, dlq_name = CONSUMERS[function]
    sqs_statements = [
        statement
        for policy in policies(FUNCTIONS[function])
        for statement in policy["Statement"]
        if str(statement["Action"]).startswith("sqs:")
    ]
    expected = {("sqs:ChangeMessageVisibility", queue_name), ("sqs:SendMessage", dlq_name)}
    if function == "ReplyFunction":
        expected.add(("sqs:SendMessage", queue_name))  # an unscoped reply's per-thread copies
    assert {(s["Action"], s["Resource"]["Fn::GetAtt"][0]) for s in sqs_statements} == expected


@pytest.mark.parametrize("dlq", ["SendDeadLetterQueue", "ReplyDeadLetterQueue"])
def test_every_dlq_has_an_alarm(dlq):
    alarms = resources("AWS::CloudWatch::Alarm").values()
    watched = [a["Properties"]["Dimensions"][0]["Value"] for a in alarms if "Dimensions" in a["Properties"]]
    assert {"Fn::GetAtt": [dlq, "QueueName"]} in watched


@pytest.mark.parametrize("name", ["send.json", "reply.json"])
def test_sqs_samples_are_fifo_records_whose_body_matches_the_contract(name):
    from slack_integration.models.messages import ReplyRequest, SendRequest

    [record] = sample(name)["Records"]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"].endswith(".fifo")
    body = json.loads(record["body"])
    model = SendRequest if name == "send.json" else ReplyRequest
    request = model.model_validate(body)
    expected_group = request.user_id if isinstance(request, SendRequest) else request.internal_message_id
    assert record["attributes"]["MessageGroupId"] == expected_group


KMS_IF = {"Fn::If": ["UseKms", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}


def test_kms_key_arn_switches_every_store_to_the_customer_managed_key():
    template = load_template()
    assert template["Globals"]["Function"]["KmsKeyArn"] == KMS_IF  # the functions' environment
    for name, queue in resources("AWS::SQS::Queue").items():
        properties = queue["Properties"]
        assert properties["KmsMasterKeyId"] == KMS_IF, name
        # SQS-managed encryption otherwise: the two are exclusive.
        assert properties["SqsManagedSseEnabled"] == {"Fn::If": ["UseKms", {"Ref": "AWS::NoValue"}, True]}, name
    for name, table in resources("AWS::DynamoDB::Table").items():
        sse = table["Properties"]["SSESpecification"]
        assert sse["SSEEnabled"] is True and sse["KMSMasterKeyId"] == KMS_IF, name
        assert sse["SSEType"] == {"Fn::If": ["UseKms", "KMS", {"Ref": "AWS::NoValue"}]}, name
    for name, group in resources("AWS::Logs::LogGroup").items():
        assert group["Properties"]["KmsKeyId"] == KMS_IF, name
        assert group["Properties"]["RetentionInDays"] == 30, name


def test_every_checkov_skip_says_why():
    for name, resource in load_template()["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV_"), name
            assert len(skip.get("comment", "")) > 60, f"{name}: {skip['id']} needs a reason a reviewer can accept"


def test_consumers_reserve_what_their_event_sources_may_use():
    template = load_template()
    consumer_default = template["Parameters"]["ConsumerConcurrency"]["Default"]
    for name, function in resources("AWS::Serverless::Function").items():
        properties = function["Properties"]
        sqs = [e for e in properties.get("Events", {}).values() if e["Type"] == "SQS"]
        if not sqs:
            assert "ReservedConcurrentExecutions" not in properties, name  # the Globals' ApiConcurrency
            continue
        assert properties["ReservedConcurrentExecutions"] == {
            "Fn::If": ["LimitConsumerConcurrency", {"Ref": "ConsumerConcurrency"}, {"Ref": "AWS::NoValue"}]
        }, name
        for event in sqs:
            maximum = event["Properties"].get("ScalingConfig", {}).get("MaximumConcurrency")
            assert maximum is None or maximum <= consumer_default, name


def test_the_api_access_log_carries_no_query_string_header_or_body():
    settings = resources("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]["AccessLogSettings"]
    fields = json.loads(settings["Format"].replace("\n", ""))
    assert {"requestId", "routeKey", "status", "user", "integrationError", "responseLatencyMs"} <= set(fields)
    variables = " ".join(fields.values())
    for leaky in ("querystring", "$context.path.", "$request.", "header.authorization", "$input", "body"):
        assert leaky not in variables.lower()
