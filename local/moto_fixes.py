"""Where moto (5.2.5) behaves unlike AWS in ways the local stack and `make bench` would otherwise
measure as the product's: each fix makes moto do what the AWS service documents, nothing more.

- DynamoDB and SQS requests one at a time: both services apply each request atomically; moto does
  not when requests overlap (as they do once a function's invocations run at the same time). A
  long poll lets other SQS requests in while it waits, as SQS does.
- TransactWriteItems backs up only the items it touches: moto deep-copies every table a
  transaction names (to roll back on failure), so every tracked send got slower with every
  delivery recorded before it (about 0.15 ms per item in the table: 68-96 ms a transaction after a
  few hundred deliveries). The rollback is kept: the touched items are copied and put back.
- A table's copy shares its stream history (the rollback never needs to undo the local stream).
- SQS FIFO: a message handed back (its visibility ran out) no longer holds its group. moto releases
  such messages one by one while scanning, so after a hand-back of m3-m5 it skipped m3 and m4 (m5
  still "held" the group) and returned m5 first: out of order. SQS returns m3, m4, m5.
- moto's server lists its own package directory on every request, to route it: once is enough.
- SQS long polling answers soon after a message becomes visible. moto only wakes up for a newly
  sent message or after a whole second, so every hand-back cost up to a second more; and when the
  visible messages all belong to a group in flight it re-scanned without pause, spinning a CPU.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

# How often a waiting receive looks again for messages whose visibility ran out.
LONG_POLL_SLICE_SECONDS = 0.02

_installed = False
_in_transaction = threading.local()
# SQS requests, one at a time; a thread that holds it marks itself here (a long poll lets go of it
# while it waits).
_sqs_lock = threading.Lock()
_sqs_turn = threading.local()


def install() -> None:
    """Apply every fix, once per process (moto's classes are process-wide)."""
    global _installed
    if _installed:
        return
    _one_dynamodb_request_at_a_time()
    _one_sqs_request_at_a_time()
    _moto_modules_listed_once()
    _transactions_back_up_only_what_they_touch()
    _share_stream_history_in_transactions()
    _fifo_hand_backs_release_their_group()
    _long_polls_wake_when_messages_become_visible()
    _installed = True


def _one_dynamodb_request_at_a_time() -> None:
    """TransactWriteItems fails ("dictionary changed size during iteration") while another request
    writes, its rollback undoes what other requests wrote meanwhile, and a condition is checked
    apart from the write it guards. So moto serves one DynamoDB request at a time."""
    from moto.dynamodb.responses import DynamoHandler

    serve = DynamoHandler.call_action
    lock = threading.RLock()

    def call_action(self: DynamoHandler) -> Any:
        with lock:
            return serve(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def _one_sqs_request_at_a_time() -> None:
    """Two receives at once could both take messages of one FIFO group (each checks the groups in
    flight before the other marks its own), and a delete or a visibility change alters the
    in-flight set while a receive iterates over it."""
    from moto.sqs.responses import SQSResponse

    serve = SQSResponse.call_action

    def call_action(self: SQSResponse) -> Any:
        with _sqs_lock:
            _sqs_turn.held = True
            try:
                return serve(self)
            finally:
                _sqs_turn.held = False

    SQSResponse.call_action = call_action  # type: ignore[method-assign]


def _moto_modules_listed_once() -> None:
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules  # type: ignore[assignment]


def _transactions_back_up_only_what_they_touch() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    def table_deepcopy(self: Table, memo: dict[int, Any]) -> Table:
        if getattr(_in_transaction, "active", False):
            return self  # the whole-table backup of a transaction: its items are saved instead
        new = Table.__new__(Table)
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    def locate(backend: Any, operation: dict[str, Any]) -> tuple[Table, DynamoType, DynamoType | None] | None:
        table = backend.tables.get(operation.get("TableName"))
        if table is None:
            return None
        key = operation.get("Key") or operation.get("Item") or {}
        try:
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        except (KeyError, TypeError):
            return None  # malformed: moto refuses it before writing anything
        return table, hash_value, range_value

    def put_back(table: Table, hash_value: DynamoType, range_value: DynamoType | None, item: Any) -> None:
        if range_value is None:
            if item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item
            return
        group = table.items.get(hash_value)
        if item is None:
            if group is not None:
                group.pop(range_value, None)
                if not group:
                    table.items.pop(hash_value, None)
        else:
            table.items.setdefault(hash_value, {})[range_value] = item

    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items[:100]:
            operation = next(iter(entry.values()), None)
            where = locate(self, operation) if isinstance(operation, dict) else None
            if where is not None:
                table, hash_value, range_value = where
                saved.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
        _in_transaction.active = True
        try:
            return original(self, transact_items)
        except BaseException:
            for table, hash_value, range_value, item in reversed(saved):
                put_back(table, hash_value, range_value, item)
            raise
        finally:
            _in_transaction.active = False

    Table.__deepcopy__ = table_deepcopy  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _share_stream_history_in_transactions() -> None:
    from moto.dynamodb.models.table import StreamShard

    StreamShard.__deepcopy__ = lambda self, memo: self  # type: ignore[attr-defined]


def _fifo_hand_backs_release_their_group() -> None:
    """moto counts a message as in flight until a scan meets it again, and re-checks the group
    after each one it releases, so of m3-m9 handed back together it skipped m3-m8 (m9 still "held"
    the group) and answered m9 first. Here each scan first releases every message whose
    visibility ran out, then takes the groups still in flight as they were before it started: a
    receive may return several messages of one group, in order, as SQS does. Otherwise moto
    5.2.5's receive_message as it is (requirements-dev.txt pins that version)."""
    from moto.core.utils import unix_time
    from moto.sqs import models

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        queue = self.get_queue(queue_name)
        result: list[Any] = []
        polling_end = unix_time() + wait_seconds_timeout
        while True:
            if result or (wait_seconds_timeout and unix_time() > polling_end):
                break
            for message in [m for m in queue.pending_messages if m.visible]:
                queue.pending_messages.discard(message)
            in_flight = set(queue.pending_message_groups)
            to_dead_letter = []
            for message in queue.messages:
                if message.group_id and queue.fifo_queue and message.group_id in in_flight:
                    continue
                if (
                    queue.dead_letter_queue is not None
                    and queue.redrive_policy
                    and message.approximate_receive_count >= queue.redrive_policy["maxReceiveCount"]
                ):
                    to_dead_letter.append(message)
                    continue
                queue.pending_messages.add(message)
                message.mark_received(visibility_timeout=visibility_timeout)
                received = copy.deepcopy(message)
                models._filter_message_attributes(received, message_attribute_names or [])
                if not self.is_message_valid_based_on_retention_period(queue_name, message):
                    break
                result.append(received)
                if len(result) >= count:
                    break
            for message in to_dead_letter:
                queue._messages.remove(message)
                queue.dead_letter_queue.add_message(message)
            if not result:
                if wait_seconds_timeout == 0:
                    break
                queue.wait_for_messages(1)
        return result

    models.SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


def _long_polls_wake_when_messages_become_visible() -> None:
    from moto.sqs.models import Queue

    def wait_for_messages(self: Any, timeout: int) -> None:
        # receive_message scans again after each wait, until its WaitTimeSeconds are over; other
        # SQS requests (the deletes and hand-backs that free a group) go ahead meanwhile.
        held = getattr(_sqs_turn, "held", False)
        if held:
            _sqs_turn.held = False
            _sqs_lock.release()
        try:
            with self._messages_lock:
                self._messages_lock.wait(timeout=min(timeout, LONG_POLL_SLICE_SECONDS))
        finally:
            if held:
                _sqs_lock.acquire()
                _sqs_turn.held = True

    Queue.wait_for_messages = wait_for_messages  # type: ignore[method-assign]
