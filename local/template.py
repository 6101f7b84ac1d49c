"""template.yaml as the single source of truth for everything local: the tests and the local stack.

Tables and queues are created (in moto) exactly as the template declares them (keys, indexes,
TTL, FIFO attributes, redrive), and the environment each function gets is the one the template
gives it (Globals plus its own), with every !Ref resolved against what was created.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, !GetAtt ...) as their long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {key: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@cache
def load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in load_template()["Resources"].items() if res["Type"] == kind}


def global_environment() -> dict[str, Any]:
    return load_template()["Globals"]["Function"]["Environment"]["Variables"]


def table_env(suffix: str = "test") -> dict[str, str]:
    """{ENV_VAR: physical table name} for every Globals variable naming one of the stack's tables
    (as it does with the template's defaults, i.e. no restored table in use)."""
    names = {logical: f"{logical}-{suffix}" for logical in resources("AWS::DynamoDB::Table")}
    env = {}
    for var, value in global_environment().items():
        chosen = _resolve(value, names)
        if isinstance(value, dict) and chosen in names.values():
            env[var] = chosen
    return env


def create_tables(dynamodb: Any, suffix: str = "test") -> dict[str, str]:
    """Create every table of the template in `dynamodb` (a boto3 client); returns logical -> physical."""
    names: dict[str, str] = {}
    for logical, resource in resources("AWS::DynamoDB::Table").items():
        props = resource["Properties"]
        name = f"{logical}-{suffix}"
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props["BillingMode"],
        }
        if "GlobalSecondaryIndexes" in props:
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if "StreamSpecification" in props:
            args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        dynamodb.create_table(**args)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        names[logical] = name
    return names


def parameter_default(name: str) -> Any:
    return load_template()["Parameters"][name]["Default"]


def create_queues(sqs: Any, suffix: str = "test") -> dict[str, str]:
    """Create every SQS queue of the template in `sqs` (dead-letter queues first, so redrive
    policies can name them); returns logical id -> queue URL."""
    queues = resources("AWS::SQS::Queue")
    ordered = sorted(queues, key=lambda name: "RedrivePolicy" in queues[name]["Properties"])
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    for logical in ordered:
        props = queues[logical]["Properties"]
        fifo = bool(props.get("FifoQueue"))
        name = f"{logical}-{suffix}" + (".fifo" if fifo else "")
        attributes: dict[str, str] = {}
        for key in (
            "FifoQueue",
            "ContentBasedDeduplication",
            "DeduplicationScope",
            "FifoThroughputLimit",
            "VisibilityTimeout",
            "MessageRetentionPeriod",
            "SqsManagedSseEnabled",
        ):
            if key in props:
                value = props[key]
                attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
        redrive = props.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            count = redrive["maxReceiveCount"]
            if isinstance(count, dict):
                count = parameter_default(count["Ref"])
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arns[target], "maxReceiveCount": count})
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        urls[logical] = url
        arns[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return urls


def function_env(function: str, queue_urls: dict[str, str]) -> dict[str, str]:
    """The function's own Environment.Variables from the template, with !Ref resolved against
    the test's queues and the parameters' defaults."""
    env: dict[str, str] = {}
    for name, value in function_env_raw(function).items():
        chosen = _resolve(value, queue_urls)
        if chosen is not _NO_VALUE:
            env[name] = str(chosen)
    return env


def http_routes() -> dict[tuple[str, str], str]:
    """(method, path template) -> function directory, for every HttpApi event of the template."""
    routes: dict[tuple[str, str], str] = {}
    for resource in resources("AWS::Serverless::Function").values():
        directory = resource["Properties"]["CodeUri"].strip("/").split("/")[-1]
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                routes[(event["Properties"]["Method"].upper(), event["Properties"]["Path"])] = directory
    return routes


def public_routes() -> set[tuple[str, str]]:
    """The routes without the JWT authorizer (Auth: Authorizer: NONE): Slack's own."""
    public = set()
    for resource in resources("AWS::Serverless::Function").values():
        for event in resource["Properties"].get("Events", {}).values():
            props = event["Properties"]
            if event["Type"] == "HttpApi" and (props.get("Auth") or {}).get("Authorizer") == "NONE":
                public.add((props["Method"].upper(), props["Path"]))
    return public


def function_directory(logical: str) -> str:
    return str(load_template()["Resources"][logical]["Properties"]["CodeUri"]).strip("/").split("/")[-1]


def environment(logical: str, resolved: dict[str, str]) -> dict[str, str]:
    """Globals' variables plus the function's own, with !Ref resolved: resources from `resolved`
    (logical id -> physical name or URL), parameters from their defaults."""
    variables = {**global_environment(), **function_env_raw(logical)}
    chosen = {name: _resolve(value, resolved) for name, value in variables.items()}
    return {name: str(value) for name, value in chosen.items() if value is not _NO_VALUE}


# AWS::NoValue: the variable is left out.
_NO_VALUE = object()


# Lambda's SQS event source with neither limit starts with five concurrent batches (and scales
# up with the backlog, to 1,000); locally it stays at its start.
UNLIMITED_SQS_CONCURRENCY = 5


def sqs_concurrency(logical: str, queue: str, resolved: dict[str, str] | None = None) -> int:
    """How many batches of `queue` Lambda runs function `logical` on at once: its SQS event's
    ScalingConfig.MaximumConcurrency, capped by the function's ReservedConcurrentExecutions (its
    own, else Globals'), as deployed with these parameters (defaults otherwise). 0 means the
    function is throttled: nothing runs."""
    resolved = resolved or {}
    template = load_template()
    props = template["Resources"][logical]["Properties"]
    limits = []
    for event in props.get("Events", {}).values():
        source = event["Properties"].get("Queue")
        if event["Type"] == "SQS" and source == {"Fn::GetAtt": [queue, "Arn"]}:
            scaling = event["Properties"].get("ScalingConfig") or {}
            limits.append(_resolve(scaling.get("MaximumConcurrency", {"Ref": "AWS::NoValue"}), resolved))
    if not limits:
        raise KeyError(f"{logical} has no SQS event on {queue}")
    reserved = props.get(
        "ReservedConcurrentExecutions", template["Globals"]["Function"].get("ReservedConcurrentExecutions")
    )
    if reserved is not None:
        limits.append(_resolve(reserved, resolved))
    chosen = [int(limit) for limit in limits if limit is not _NO_VALUE]
    return min(chosen) if chosen else UNLIMITED_SQS_CONCURRENCY


def _resolve(value: Any, resolved: dict[str, str]) -> Any:
    """!Ref, !Sub (of names) and !If as CloudFormation would evaluate them with the parameters'
    defaults."""
    if isinstance(value, dict) and "Ref" in value:
        ref = value["Ref"]
        if ref == "AWS::NoValue":
            return _NO_VALUE
        return resolved[ref] if ref in resolved else parameter_default(ref)
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        text = value["Fn::Sub"]
        names = re.findall(r"\$\{([\w:.]+)\}", text)
        if any(name.startswith("AWS::") or "." in name for name in names):
            return value  # an ARN or URL of the deployed stack: nothing local to put in
        return re.sub(r"\$\{(\w+)\}", lambda m: str(_resolve({"Ref": m.group(1)}, resolved)), text)
    if isinstance(value, dict) and "Fn::If" in value:
        condition, when_true, when_false = value["Fn::If"]
        return _resolve(when_true if condition_holds(condition, resolved) else when_false, resolved)
    return value


def condition_holds(name: str, resolved: dict[str, str] | None = None) -> bool:
    return bool(_evaluate(load_template()["Conditions"][name], resolved or {}))


def _evaluate(expression: Any, resolved: dict[str, str]) -> Any:
    if isinstance(expression, dict) and "Fn::Equals" in expression:
        left, right = (_evaluate(side, resolved) for side in expression["Fn::Equals"])
        return str(left) == str(right)
    if isinstance(expression, dict) and "Fn::Not" in expression:
        return not _evaluate(expression["Fn::Not"][0], resolved)
    if isinstance(expression, dict) and "Condition" in expression:
        return condition_holds(expression["Condition"], resolved)
    return _resolve(expression, resolved)


def policies(resource: dict[str, Any], resolved: dict[str, str] | None = None) -> list[Any]:
    """A function's Policies as deployed with these parameters (defaults otherwise): an
    `!If [Condition, policy, !Ref AWS::NoValue]` item is the policy or nothing."""
    chosen = []
    for policy in resource["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Fn::If" in policy:
            condition, when_true, when_false = policy["Fn::If"]
            policy = when_true if condition_holds(condition, resolved) else when_false
            if policy == {"Ref": "AWS::NoValue"}:
                continue
        chosen.append(policy)
    return chosen


def function_env_raw(logical: str) -> dict[str, Any]:
    props = load_template()["Resources"][logical]["Properties"]
    return dict(props.get("Environment", {}).get("Variables", {}))


def create_rules(events: Any, sqs: Any, queue_urls: dict[str, str], suffix: str = "test") -> dict[str, str]:
    """The template's EventBridge rules (AWS::Events::Rule) on the default bus of `events`, their
    SQS targets pointed at the created queues (input transformers as declared); logical -> name."""
    names: dict[str, str] = {}
    for logical, resource in resources("AWS::Events::Rule").items():
        props = resource["Properties"]
        name = f"{logical}-{suffix}"
        events.put_rule(Name=name, EventPattern=json.dumps(props["EventPattern"]), State="ENABLED")
        targets = []
        for target in props["Targets"]:
            queue = target["Arn"]["Fn::GetAtt"][0]
            arn = sqs.get_queue_attributes(QueueUrl=queue_urls[queue], AttributeNames=["QueueArn"])["Attributes"]
            entry: dict[str, Any] = {"Id": target["Id"], "Arn": arn["QueueArn"]}
            if "InputTransformer" in target:
                entry["InputTransformer"] = target["InputTransformer"]
            targets.append(entry)
        events.put_targets(Rule=name, Targets=targets)
        names[logical] = name
    return names
