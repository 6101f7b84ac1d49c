"""The local stack's state across restarts: one snapshot in a state directory (`make run` keeps it
in .local-state), written when the stack stops and restored when it starts, before any function,
poller, stream reader or the HTTP API runs.

Saved, in `snapshot.json` (one JSON document, written to a temp file then os.replace'd, so a
crash while saving leaves the previous snapshot whole):

- every item of every table of template.yaml (Scan; restored with BatchWriteItem), in DynamoDB
  JSON, so every type comes back as it was (binary as base64);
- the stack's secrets (name + SecretString): the Slack app's credentials and each integration's
  bot token;
- every message of every queue, the dead-letter queues included: body, message attributes and,
  on FIFO queues, MessageGroupId and MessageDeduplicationId; restore sends them again;
- the Slack emulator's whole state (SlackEmulator.snapshot: workspaces, channels, members,
  messages and threads, OAuth apps, tokens and refresh tokens);
- the stack's JWT signing secret, so a dev token or a browser session from before the restart
  stays valid.

Not saved, and why:

- what SQS keeps about a message besides its content: its receive count, and the time it still
  had to wait (a retry's visibility timeout, a delay). SendMessage cannot set them: a restored
  message starts again at 0 receives and is delivered right after the start;
- the deliveries table's stream history. Restoring the rows writes them again, and those writes
  are stream records too: the receipts poller skips them (`skip_restored`), because their
  receipts were published before the restart. Only deliveries made after it emit receipts. At
  stop the stack reads the stream one last time, so every delivery made before it has its receipt;
- the emulator's armed faults, call log and rate-limit windows (a test's instruments, readings of
  this process's clock);
- tables, queues and EventBridge rules themselves: every start creates them from template.yaml;
- with a real Slack workspace (SLACK_BOT_TOKEN), its bot token: it is not written to disk, the
  next start connects the demo user with SLACK_BOT_TOKEN again; and nothing of Slack's, which
  keeps its own state;
- secrets of other stacks of the same process (moto's backends are shared by every stack of a
  process, as in the tests): only this stack's app secret and its integrations' tokens.

The snapshot holds dev secrets in clear (the emulator's bot tokens, the app's credentials, the
JWT secret): the directory is created 0700, the file 0600, and .local-state/ is .gitignore'd.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.runtime import ACCOUNT_ID, REGION
from local.template import resources

SNAPSHOT_FILE = "snapshot.json"
FORMAT = "buster-local-stack-state"
VERSION = 1
# The queues whose messages the stop message counts (the receipts' dead-letter queue is saved too).
COUNTED_QUEUES = (
    "SendQueue",
    "ReplyQueue",
    "DomainEventsQueue",
    "SendDeadLetterQueue",
    "ReplyDeadLetterQueue",
    "DomainEventsDeadLetterQueue",
)
# SQS's longest visibility timeout: a message received for the snapshot is never handed out twice.
_SNAPSHOT_VISIBILITY = 43_200

Invoke = Callable[[dict[str, Any]], dict[str, Any] | None]


class StateError(Exception):
    """The state directory cannot be used as it is; the message says what to do."""


@dataclass(frozen=True)
class Restored:
    """What a start brought back from the state directory."""

    saved_at: str
    items: int  # table items, all tables
    integrations: int
    queued: int  # messages put back on the send, reply and domain events queues
    dead_lettered: int  # and on the dead-letter queues


class StateDir:
    """The directory the snapshot lives in."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @property
    def snapshot_file(self) -> Path:
        return self.path / SNAPSHOT_FILE

    def load(self) -> dict[str, Any] | None:
        """The saved snapshot, or None when there is none (a fresh start)."""
        try:
            text = self.snapshot_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            snapshot = json.loads(text)
        except ValueError as err:
            raise StateError(f"{self.snapshot_file} is not valid JSON ({err}): {_what_to_do()}") from None
        if not isinstance(snapshot, dict) or snapshot.get("format") != FORMAT or snapshot.get("version") != VERSION:
            raise StateError(
                f"{self.snapshot_file} is not a version {VERSION} snapshot of the local stack: {_what_to_do()}"
            )
        return snapshot

    def save(self, snapshot: dict[str, Any]) -> Path:
        """Write the snapshot atomically (temp file in the same directory, then os.replace)."""
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{SNAPSHOT_FILE}.", suffix=".tmp", dir=self.path)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                os.fchmod(out.fileno(), 0o600)
                json.dump(snapshot, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, self.snapshot_file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        return self.snapshot_file

    def reset(self) -> bool:
        """Wipe the state: the snapshot and any temp file a crashed save left. Only those files:
        a --state-dir pointed at a directory with other things in it loses nothing else. True if
        there was a snapshot."""
        existed = self.snapshot_file.exists()
        for path in [self.snapshot_file, *self.path.glob(f".{SNAPSHOT_FILE}.*.tmp")]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        with contextlib.suppress(OSError):  # not there, or holds something else: keep it
            self.path.rmdir()
        return existed


def _what_to_do() -> str:
    return "move it away, or start with --reset (loses it) or --state-dir elsewhere"


# -- capture ------------------------------------------------------------------------------------


def capture(
    *,
    endpoint: str,
    tables: dict[str, str],
    queues: dict[str, str],
    app_secret_name: str,
    token_prefix: str,
    slack_mode: str,
    emulator: Any,
    jwt_secret: str,
) -> dict[str, Any]:
    """The stack's snapshot, read from moto at `endpoint` and from the emulator. It drains the
    queues (moto is about to stop): call it once nothing consumes them any more."""
    dynamodb = _client("dynamodb", endpoint)
    saved_tables = {logical: _scan(dynamodb, name) for logical, name in tables.items()}
    integrations = saved_tables.get("IntegrationsTable", [])
    integration_ids = [item["id"]["S"] for item in integrations if "S" in item.get("id", {})]
    secrets = _client("secretsmanager", endpoint)
    # With a real workspace its token stays off the disk: the next start connects with SLACK_BOT_TOKEN.
    token_names = [f"{token_prefix}{i}" for i in integration_ids] if slack_mode == "emulator" else []
    return {
        "format": FORMAT,
        "version": VERSION,
        "savedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "slackMode": slack_mode,
        "jwtSecret": jwt_secret,
        "tables": saved_tables,
        "secrets": {
            "app": _secret_string(secrets, app_secret_name),
            "tokens": [
                {"name": name, "secretString": value}
                for name in token_names
                if (value := _secret_string(secrets, name)) is not None
            ],
        },
        "queues": _drain_all(_client("sqs", endpoint), queues),
        "slack": emulator.snapshot() if emulator is not None else None,
    }


def _scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    pages = dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return [_encode_item(item) for page in pages for item in page["Items"]]


def _secret_string(secrets: Any, name: str) -> str | None:
    try:
        return secrets.get_secret_value(SecretId=name).get("SecretString")
    except secrets.exceptions.ResourceNotFoundException:
        return None


def _drain_all(sqs: Any, queues: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    # Queues with a redrive policy first: a message moto dead-letters while they are read (one at
    # its last receive) then lands in a dead-letter queue that is read after.
    templates = resources("AWS::SQS::Queue")
    order = sorted(queues, key=lambda q: "RedrivePolicy" not in templates.get(q, {}).get("Properties", {}))
    for logical in order:
        _release_waiting(queues[logical])
    return {logical: _drain(sqs, queues[logical]) for logical in order}


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message of the queue, received with SQS's longest visibility timeout and deleted
    batch by batch: a FIFO queue hands out no more of a group while some of it is in flight."""
    saved: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=_SNAPSHOT_VISIBILITY,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return saved
        for message in messages:
            system = message.get("Attributes", {})
            saved.append(
                {
                    "body": message["Body"],
                    "attributes": _encode_attributes(message.get("MessageAttributes", {})),
                    "groupId": system.get("MessageGroupId"),
                    "deduplicationId": system.get("MessageDeduplicationId"),
                }
            )
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )


def _release_waiting(url: str) -> None:
    """Make the queue's in-flight and delayed messages receivable now, so the snapshot has them.

    SQS has no call that reads a message in flight without its receipt handle, and the handles
    are gone with the poller that received them: a retry's ChangeMessageVisibility or a batch
    whose invocation failed would otherwise stay hidden past the stop and be lost. This reaches
    into moto's backend (in this process, like ThreadedMotoServer itself); if moto's internals
    change, the snapshot holds only the visible messages, and stop() says how many it missed."""
    try:
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[ACCOUNT_ID][REGION].queues[url.rsplit("/", 1)[1]]
        for message in queue._messages:
            message.visible_at = 0.0
            message.delayed_until = 0.0
        queue._pending_messages.clear()
    except (ImportError, KeyError, AttributeError):
        return


# -- restore ------------------------------------------------------------------------------------


def check_mode(snapshot: dict[str, Any], slack_mode: str) -> None:
    """StateError when the snapshot was saved with the other Slack (emulator / real workspace):
    its integrations and tokens would point at a workspace this run does not talk to."""
    saved = snapshot.get("slackMode")
    if saved != slack_mode:
        with_what = {"emulator": "the Slack emulator", "slack": "a real Slack workspace (SLACK_BOT_TOKEN)"}
        raise StateError(
            f"the saved state is of a stack that used {with_what.get(str(saved), saved)}, this one uses "
            f"{with_what[slack_mode]}: start with --reset (loses it) or --state-dir elsewhere"
        )


def restore(
    snapshot: dict[str, Any],
    *,
    endpoint: str,
    tables: dict[str, str],
    queues: dict[str, str],
    app_secret_name: str,
) -> Restored:
    """Put the snapshot's items, secrets and messages into this stack's (new, empty) tables,
    secrets and queues; the emulator's part is the stack's (SlackEmulator.restore). Tables and
    queues the template no longer has are skipped."""
    dynamodb = _client("dynamodb", endpoint)
    items = 0
    for logical, saved in snapshot.get("tables", {}).items():
        if logical in tables:
            _batch_write(dynamodb, tables[logical], [_decode_item(item) for item in saved])
            items += len(saved)
    secrets = _client("secretsmanager", endpoint)
    saved_secrets = snapshot.get("secrets") or {}
    if saved_secrets.get("app") is not None:
        # Under this stack's name for it: a test's stacks each have their own (buster/slack/app-<name>).
        _put_secret(secrets, app_secret_name, saved_secrets["app"])
    for secret in saved_secrets.get("tokens", []):
        _put_secret(secrets, secret["name"], secret["secretString"])
    sqs = _client("sqs", endpoint)
    queued = dead_lettered = 0
    for logical, messages in snapshot.get("queues", {}).items():
        if logical not in queues or not messages:
            continue
        _send_all(sqs, queues[logical], logical, messages)
        if logical.endswith("DeadLetterQueue"):
            dead_lettered += len(messages)
        else:
            queued += len(messages)
    return Restored(
        saved_at=str(snapshot.get("savedAt", "")),
        items=items,
        integrations=len(snapshot.get("tables", {}).get("IntegrationsTable", [])),
        queued=queued,
        dead_lettered=dead_lettered,
    )


def _batch_write(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        for _ in range(50):
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
        else:
            raise StateError(f"DynamoDB kept refusing part of the restore of {table}")


def _put_secret(secrets: Any, name: str, value: str) -> None:
    try:
        secrets.create_secret(Name=name, SecretString=value)
    except secrets.exceptions.ResourceExistsException:  # moto's secrets outlive a test's stack
        secrets.put_secret_value(SecretId=name, SecretString=value)


def _send_all(sqs: Any, url: str, logical: str, messages: list[dict[str, Any]]) -> None:
    """Send the saved messages again, in their order (a FIFO batch keeps it within a group).
    The receive counts start again at 0: SQS has no way to send a message "already received
    three times", so a message that was near its maxReceiveCount gets its full retries again."""
    props = resources("AWS::SQS::Queue").get(logical, {}).get("Properties", {})
    fifo = bool(props.get("FifoQueue"))
    content_dedup = bool(props.get("ContentBasedDeduplication"))
    for start in range(0, len(messages), 10):
        entries = []
        for index, message in enumerate(messages[start : start + 10], start=start):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["body"]}
            if message.get("attributes"):
                entry["MessageAttributes"] = _decode_attributes(message["attributes"])
            if fifo:
                entry["MessageGroupId"] = message.get("groupId") or "restored"
                dedup = message.get("deduplicationId")
                if dedup:
                    entry["MessageDeduplicationId"] = dedup
                elif not content_dedup:
                    entry["MessageDeduplicationId"] = f"restored-{index}"
            entries.append(entry)
        failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed") or []
        if failed:
            raise StateError(f"SQS refused {len(failed)} restored message(s) of {logical}: {failed[0]}")


# -- while running and at stop ---------------------------------------------------------------------


def app_credentials(endpoint: str, app_secret_name: str) -> dict[str, str] | None:
    """The Slack app's credentials in moto (clientId, clientSecret, signingSecret), if any."""
    value = _secret_string(_client("secretsmanager", endpoint), app_secret_name)
    if value is None:
        return None
    try:
        credentials = json.loads(value)
    except ValueError:
        return None
    keys = ("clientId", "clientSecret", "signingSecret")
    if not isinstance(credentials, dict) or not all(isinstance(credentials.get(k), str) for k in keys):
        return None
    return {k: credentials[k] for k in keys}


def queued_messages(endpoint: str, queues: dict[str, str]) -> dict[str, int]:
    """Messages on each of COUNTED_QUEUES: waiting, in flight and delayed."""
    sqs = _client("sqs", endpoint)
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    counts = {}
    for logical in COUNTED_QUEUES:
        if logical in queues:
            attributes = sqs.get_queue_attributes(QueueUrl=queues[logical], AttributeNames=names)["Attributes"]
            counts[logical] = sum(int(attributes.get(name, 0)) for name in names)
    return counts


def stream_end(endpoint: str, table: str) -> int:
    """The last sequence number in the table's stream (0 if it has no record): where the
    restore's own writes end."""
    dynamodb = _client("dynamodb", endpoint)
    arn = dynamodb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
    if not arn:
        return 0
    streams = _client("dynamodbstreams", endpoint)
    last = 0
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        position = iterator["ShardIterator"]
        while position:
            answer = streams.get_records(ShardIterator=position, Limit=1000)
            records = answer.get("Records", [])
            if not records:
                break
            last = max(last, *(int(r["dynamodb"]["SequenceNumber"]) for r in records))
            position = answer.get("NextShardIterator")
    return last


def skip_restored(invoke: Invoke, through: int) -> Invoke:
    """`invoke` for stream records past sequence number `through` only: the records the restore
    wrote (up to `through`) are settled without it, so restored deliveries emit no receipt again."""

    def fresh_only(event: dict[str, Any]) -> dict[str, Any] | None:
        fresh = [r for r in event["Records"] if int(r["dynamodb"]["SequenceNumber"]) > through]
        if not fresh:
            return None
        return invoke({**event, "Records": fresh})

    return fresh_only


# -- DynamoDB JSON and SQS attributes as JSON --------------------------------------------------------


def _encode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _encode_value(value) for name, value in item.items()}


def _decode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _decode_value(value) for name, value in item.items()}


def _encode_value(value: dict[str, Any]) -> dict[str, Any]:
    """An AttributeValue as DynamoDB's own JSON has it: binary as base64 (boto3 gives bytes)."""
    [(kind, inner)] = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode("ascii") for b in inner]}
    if kind == "M":
        return {"M": _encode_item(inner)}
    if kind == "L":
        return {"L": [_encode_value(v) for v in inner]}
    return {kind: inner}


def _decode_value(value: dict[str, Any]) -> dict[str, Any]:
    [(kind, inner)] = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": _decode_item(inner)}
    if kind == "L":
        return {"L": [_decode_value(v) for v in inner]}
    return {kind: inner}


def _encode_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    encoded = {}
    for name, attribute in attributes.items():
        kept = {k: v for k, v in attribute.items() if k in ("DataType", "StringValue", "BinaryValue")}
        if "BinaryValue" in kept:
            kept["BinaryValue"] = base64.b64encode(kept["BinaryValue"]).decode("ascii")
        encoded[name] = kept
    return encoded


def _decode_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {**a, "BinaryValue": base64.b64decode(a["BinaryValue"])} if "BinaryValue" in a else dict(a)
        for name, a in attributes.items()
    }


def _client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto takes any
    )
