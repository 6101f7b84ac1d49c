"""template.yaml as the single source of truth for test infrastructure.

Tables are created in moto exactly as the template declares them (keys, indexes, TTL), and the
environment variables the functions read are the ones the template's Globals declare.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
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
    """{ENV_VAR: physical table name} for every Globals variable that is a !Ref to a table."""
    tables = resources("AWS::DynamoDB::Table")
    return {
        var: f"{value['Ref']}-{suffix}"
        for var, value in global_environment().items()
        if isinstance(value, dict) and value.get("Ref") in tables
    }


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
    props = load_template()["Resources"][function]["Properties"]
    variables = props.get("Environment", {}).get("Variables", {})
    env: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            env[name] = queue_urls[ref] if ref in queue_urls else str(parameter_default(ref))
        else:
            env[name] = str(value)
    return env
