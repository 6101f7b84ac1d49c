"""local/moto_fixes.py: moto made to do what AWS documents where the local stack depends on it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local import moto_fixes


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    moto_fixes.install()
    with mock_aws():
        yield {"sqs": boto3.client("sqs"), "dynamodb": boto3.client("dynamodb")}


def _fifo(sqs: Any) -> str:
    return str(
        sqs.create_queue(
            QueueName="fixes.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "30"},
        )["QueueUrl"]
    )


def _receive(sqs: Any, url: str, wait: int = 0) -> list[dict[str, Any]]:
    return list(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait).get("Messages", []))


def test_messages_handed_back_together_come_back_in_their_group_s_order(aws):
    sqs = aws["sqs"]
    url = _fifo(sqs)
    for n in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}", MessageGroupId="user-1")
    batch = _receive(sqs, url)
    assert [m["Body"] for m in batch] == [f"m{n}" for n in range(10)]
    # m0-m2 were delivered; m3 was throttled, and the rest of its group waits with it.
    sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch[:3])]
    )
    sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 1} for n, m in enumerate(batch[3:])
        ],
    )
    time.sleep(1.1)

    again = _receive(sqs, url)

    # moto alone answered m9, m10, m11 first (m3-m8 skipped while m9 still "held" the group).
    assert [m["Body"] for m in again] == [f"m{n}" for n in range(3, 12)]


def test_a_long_poll_answers_soon_after_a_handed_back_message_is_visible_again(aws):
    sqs = aws["sqs"]
    url = _fifo(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="user-1")
    [message] = _receive(sqs, url)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=1)
    handed_back = time.monotonic()

    received = _receive(sqs, url, wait=5)

    waited = time.monotonic() - handed_back
    assert [m["Body"] for m in received] == ["once"]
    # Visible again after 1 s; moto alone noticed only at its next whole-second wake-up.
    assert 0.9 <= waited < 1.5


def _tables(ddb: Any) -> None:
    ddb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(
        TableName="maps",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "who", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "who", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def test_a_cancelled_transaction_changes_nothing_it_touched(aws):
    ddb = aws["dynamodb"]
    _tables(ddb)
    ddb.put_item(TableName="ledger", Item={"k": {"S": "a"}, "v": {"N": "1"}})
    ddb.put_item(TableName="maps", Item={"id": {"S": "m"}, "who": {"S": "u1"}, "v": {"N": "1"}})

    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "maps", "Item": {"id": {"S": "m"}, "who": {"S": "u2"}}}},  # new
                {"Put": {"TableName": "maps", "Item": {"id": {"S": "m"}, "who": {"S": "u1"}, "v": {"N": "2"}}}},
                {
                    "Update": {
                        "TableName": "ledger",
                        "Key": {"k": {"S": "a"}},
                        "UpdateExpression": "SET v = :two",
                        "ConditionExpression": "v = :nine",  # fails
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":nine": {"N": "9"}},
                    }
                },
            ]
        )

    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    maps = ddb.scan(TableName="maps")["Items"]
    assert maps == [{"id": {"S": "m"}, "who": {"S": "u1"}, "v": {"N": "1"}}]
    assert ddb.get_item(TableName="ledger", Key={"k": {"S": "a"}})["Item"]["v"] == {"N": "1"}


def test_a_transaction_costs_the_same_however_full_the_table_is(aws):
    ddb = aws["dynamodb"]
    _tables(ddb)

    def transaction(n: int) -> float:
        started = time.perf_counter()
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "maps", "Item": {"id": {"S": f"t{n}"}, "who": {"S": "u"}}}},
                {"Put": {"TableName": "ledger", "Item": {"k": {"S": f"t{n}"}}}},
            ]
        )
        return time.perf_counter() - started

    empty = min(transaction(n) for n in range(5))
    for start in range(0, 4000, 25):
        ddb.batch_write_item(
            RequestItems={
                "ledger": [
                    {"PutRequest": {"Item": {"k": {"S": f"x{n}"}, "pad": {"S": "x" * 200}}}}
                    for n in range(start, start + 25)
                ]
            }
        )
    full = min(transaction(n) for n in range(5, 10))

    # moto alone deep-copied both tables each time: about 0.15 ms per item, 600 ms here.
    assert full < empty + 0.1
    assert ddb.get_item(TableName="maps", Key={"id": {"S": "t9"}, "who": {"S": "u"}})["Item"]
