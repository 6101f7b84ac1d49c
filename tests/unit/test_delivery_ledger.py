"""The delivery ledger's state machine on its own (moto's DynamoDB, tables from template.yaml):
every transition, every refused claim, and what each leaves in the record."""

from __future__ import annotations

import time

import pytest

from slack_integration.adapters.delivery_ledger import DeliveryLedger
from slack_integration.adapters.mappings_repository import MappingsRepository, MessageMapping
from slack_integration.errors import SLACK_UNREACHABLE
from slack_integration.models.delivery import DeliveryFacts, DeliveryStatus, Landed
from slack_integration.slack_errors import SLACK_ERRORS
from tests.support.records import deliveries, mappings

KEY = "send|int-1|msg|deploy-1"
FACTS = DeliveryFacts(
    key=KEY,
    integration_id="int-1",
    user_id="user-1",
    kind="send",
    internal_message_id="deploy-1",
    channel_id="C0GENERAL1",
    thread_key="int-1|deploy-1",
    preview="Deploy 1 started",
)


@pytest.fixture
def ledger(aws) -> DeliveryLedger:
    tables = aws["tables"]
    mapping_table = MappingsRepository(tables["MessageMappingsTable"], ttl_days=90, dynamodb=aws["dynamodb"])
    return DeliveryLedger(tables["DeliveriesTable"], 30, mapping_table, dynamodb=aws["dynamodb"])


def _claim(ledger: DeliveryLedger, *, message: str = "m-1", lease: float = 60.0, facts: DeliveryFacts = FACTS):
    return ledger.claim(facts, sqs_message_id=message, lease_until=time.time() + lease)


def _stored(aws) -> dict:
    [record] = [d for d in deliveries(aws) if d["deliveryKey"] == KEY]
    return record


def test_a_first_claim_is_granted_and_writes_the_facts_and_the_lease(aws, ledger):
    claim = _claim(ledger)

    assert claim.granted and claim.previous is None
    record = _stored(aws)
    assert record["status"] == "posting" and record["attempts"] == 1 and record["sqsMessageId"] == "m-1"
    assert record["leaseUntil"] > time.time() and record["firstAttemptAt"].endswith("Z")
    assert (record["kind"], record["userId"], record["threadKey"]) == ("send", "user-1", "int-1|deploy-1")
    assert record["expiresAt"] > time.time() + 29 * 86_400


def test_a_live_lease_refuses_a_second_claim(aws, ledger):
    _claim(ledger)

    refused = _claim(ledger, message="m-2")

    assert not refused.granted
    assert refused.previous is not None and refused.previous.status is DeliveryStatus.POSTING
    assert _stored(aws)["attempts"] == 1  # nothing written by the refused claim


def test_a_lapsed_lease_is_taken_over_and_says_the_earlier_attempt_may_have_posted(aws, ledger):
    _claim(ledger, lease=-1)

    claim = _claim(ledger, message="m-2")

    assert claim.granted and claim.previous is not None
    assert claim.previous.may_have_posted
    since, until = claim.previous.look_window(time.time())
    assert since == pytest.approx(time.time(), abs=5) and until == pytest.approx(time.time() - 1, abs=5)
    assert _stored(aws)["attempts"] == 2


def test_delivered_records_where_and_refuses_every_later_claim(aws, ledger):
    _claim(ledger)

    ledger.delivered(KEY, Landed(channel_id="C0GENERAL1", ts="1.000100", post_ms=12, queue_ms=40))

    record = _stored(aws)
    assert (record["status"], record["slackTs"], record["queueMs"]) == ("delivered", "1.000100", 40)
    assert "leaseUntil" not in record and [o["outcome"] for o in record["outcomes"]] == ["delivered"]
    refused = _claim(ledger, message="m-2")
    assert not refused.granted and refused.previous is not None and refused.previous.delivered


def test_delivered_with_a_mapping_writes_both_in_one_transaction(aws, ledger):
    _claim(ledger)
    mapping = MessageMapping(
        internal_message_id="deploy-1",
        integration_id="int-1",
        user_id="user-1",
        slack_channel_id="C0GENERAL1",
        slack_message_ts="1.000100",
        sent_at="2026-12-01T00:00:00.000Z",
    )

    ledger.delivered(KEY, Landed(channel_id="C0GENERAL1", ts="1.000100"), mapping=mapping)

    [stored] = mappings(aws)
    assert stored["slackMessageTs"] == "1.000100" and stored["expiresAt"] > time.time() + 89 * 86_400
    assert _stored(aws)["status"] == "delivered"


def test_a_failure_slack_answered_is_retrying_and_the_next_claim_need_not_look(aws, ledger):
    _claim(ledger)

    ledger.attempt_failed(KEY, SLACK_ERRORS["ratelimited"].error(), outcome_unknown=False, since=time.time())

    record = _stored(aws)
    assert (record["status"], record["lastErrorCode"]) == ("retrying", "SLACK_RATE_LIMITED")
    assert "leaseUntil" not in record and "uncertainSince" not in record
    claim = _claim(ledger, message="m-1")
    assert claim.granted and claim.previous is not None and not claim.previous.may_have_posted


def test_an_unknown_outcome_is_uncertain_from_the_first_such_attempt(aws, ledger):
    _claim(ledger)
    first = time.time() - 100
    ledger.attempt_failed(KEY, SLACK_UNREACHABLE.error(), outcome_unknown=True, since=first)
    _claim(ledger)
    ledger.attempt_failed(KEY, SLACK_UNREACHABLE.error(), outcome_unknown=True, since=time.time())

    record = _stored(aws)
    assert record["status"] == "uncertain" and float(record["uncertainSince"]) == pytest.approx(first, abs=0.01)
    claim = _claim(ledger)
    assert claim.previous is not None and claim.previous.may_have_posted
    assert claim.previous.look_window(time.time())[0] == pytest.approx(first, abs=0.01)
    assert [o["outcome"] for o in record["outcomes"]] == ["uncertain", "uncertain"]


def test_an_uncertain_window_ends_with_the_last_uncertain_attempt_and_a_new_one_drops_the_cursor(aws, ledger):
    _claim(ledger)
    start = time.time()
    ledger.attempt_failed(KEY, SLACK_UNREACHABLE.error(), outcome_unknown=True, since=start, until=start + 30)
    _claim(ledger)
    # A look cut short by a 429 keeps its place.
    ledger.attempt_failed(
        KEY, SLACK_ERRORS["ratelimited"].error(), outcome_unknown=True, since=start, until=start + 30, look_cursor="c2"
    )
    record = ledger.get(KEY)
    assert record is not None and record.look_cursor == "c2"
    assert record.look_window(time.time()) == (pytest.approx(start, abs=0.01), pytest.approx(start + 30, abs=0.01))
    _claim(ledger)
    # Another uncertain post: a later end, and the old cursor no longer applies.
    ledger.attempt_failed(KEY, SLACK_UNREACHABLE.error(), outcome_unknown=True, since=start + 40, until=start + 70)

    record = ledger.get(KEY)
    assert record is not None and record.look_cursor is None
    assert record.look_window(time.time()) == (pytest.approx(start, abs=0.01), pytest.approx(start + 70, abs=0.01))


def test_a_look_that_finds_nothing_clears_the_uncertainty(aws, ledger):
    _claim(ledger)
    ledger.attempt_failed(
        KEY, SLACK_UNREACHABLE.error(), outcome_unknown=True, since=time.time(), until=time.time(), look_cursor="c"
    )
    _claim(ledger)

    ledger.verified_absent(KEY)

    record = _stored(aws)
    assert not {"uncertainSince", "uncertainUntil", "lookCursor"} & set(record)


def test_a_failure_slack_answered_after_an_uncertain_one_is_plainly_retrying(aws, ledger):
    _claim(ledger)
    ledger.attempt_failed(KEY, SLACK_UNREACHABLE.error(), outcome_unknown=True, since=time.time())
    _claim(ledger)

    ledger.attempt_failed(KEY, SLACK_ERRORS["ratelimited"].error(), outcome_unknown=False, since=time.time())

    record = _stored(aws)
    assert record["status"] == "retrying" and "uncertainSince" not in record


def test_dead_lettered_refuses_its_own_message_and_lets_a_redrive_continue(aws, ledger):
    _claim(ledger)
    ledger.attempt_failed(KEY, SLACK_UNREACHABLE.error(), outcome_unknown=True, since=time.time())

    ledger.dead_lettered(FACTS, SLACK_UNREACHABLE.error(), sqs_message_id="m-1")

    record = _stored(aws)
    assert (record["status"], record["lastErrorCode"]) == ("dead_lettered", "SLACK_UNREACHABLE")
    assert "uncertainSince" not in record and "leaseUntil" not in record
    refused = _claim(ledger, message="m-1")  # the same SQS message, received again
    assert not refused.granted and refused.previous is not None
    assert refused.previous.status is DeliveryStatus.DEAD_LETTERED
    redriven = _claim(ledger, message="m-redrive")
    assert redriven.granted and _stored(aws)["status"] == "posting"


def test_dead_lettering_before_any_claim_creates_the_record(aws, ledger):
    ledger.dead_lettered(FACTS, SLACK_UNREACHABLE.error(), sqs_message_id="m-1")

    record = ledger.get(KEY)
    assert record is not None and record.status is DeliveryStatus.DEAD_LETTERED and record.attempts == 0
    assert record.first_attempt_at is not None and record.user_id == "user-1"


def test_the_sends_of_an_internal_id_are_found_whatever_their_state_and_not_its_replies(aws, ledger):
    _claim(ledger)
    other = FACTS.model_copy(update={"key": "send|int-2|msg|deploy-1", "integration_id": "int-2", "user_id": "user-2"})
    _claim(ledger, facts=other)
    ledger.attempt_failed(other.key, SLACK_ERRORS["ratelimited"].error(), outcome_unknown=False, since=time.time())
    reply = FACTS.model_copy(update={"key": "reply|int-1|deploy-1|k", "kind": "reply"})
    _claim(ledger, facts=reply)

    sends = ledger.sends_of("deploy-1")

    assert sorted((s.user_id, s.status.value) for s in sends) == [("user-1", "posting"), ("user-2", "retrying")]
    assert ledger.sends_of("deploy-2") == []
