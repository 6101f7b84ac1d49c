"""The local stack itself: it starts, routes like API Gateway with a JWT, polls like the event
source mapping, runs the schedule, plays the demo, and stops cleanly. Also the two commands a
newcomer types (`make run`, `make demo`), run for real."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from local import dev_jwt
from local.demo import Demo
from local.slack_emulator import SlackEmulator
from local.stack import DEMO_SEED, DEMO_USER, LOCAL_AUDIENCE, LOCAL_ISSUER, LocalStack
from local.template import ROOT
from tests.support.local_stack import call, running_stack, wait_until


@pytest.fixture(scope="module")
def stack():
    # Not inside moto's mock_aws: the stack serves AWS over HTTP with moto's server, as make run does.
    with running_stack("module", health_interval=0.5) as started:
        yield started


def test_every_template_route_is_served_behind_the_jwt(stack):
    _, info = stack
    from local.template import http_routes

    assert set(info.functions) == {f"{method} {path}" for method, path in http_routes()}
    status, body = call(info, "GET", "/integration/channels")
    assert status == 200
    assert "alerts" in [c["name"] for c in body["channels"]]


@pytest.mark.parametrize(
    "token",
    [
        None,
        "not-a-jwt",
        dev_jwt.issue(DEMO_USER, secret="some-other-secret", issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE),
    ],
)
def test_a_missing_or_forged_token_is_refused_before_any_function_runs(stack, token):
    _, info = stack
    assert call(info, "GET", "/integration/channels", token=token) == (401, {"message": "Unauthorized"})


def test_an_expired_token_is_refused(stack):
    local, info = stack
    expired = dev_jwt.issue(
        DEMO_USER, secret=local._jwt_secret, issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE, ttl_seconds=-10
    )
    assert call(info, "GET", "/integration/status", token=expired)[0] == 401


def test_claims_reach_the_function_as_the_caller(stack):
    local, info = stack
    stranger = dev_jwt.issue("someone-else", secret=local._jwt_secret, issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE)
    status, body = call(info, "GET", "/integration/channels", token=stranger)
    assert (status, body["code"]) == (404, "INTEGRATION_NOT_FOUND")


def test_unknown_routes_and_path_parameters(stack):
    _, info = stack
    assert call(info, "GET", "/nope")[0] == 404
    status, body = call(info, "GET", "/messages/no%20such%20id/thread")
    assert (status, body["code"]) == (404, "THREAD_NOT_FOUND")


def test_queues_are_polled_and_partial_failures_honoured(stack):
    """A good and a malformed message: the good one is delivered, the bad one dead-lettered with
    its code, nothing is left on the queue."""
    _, info = stack
    import boto3

    status, _ = call(info, "PUT", "/integration/channel", body={"channelId": "C0DEMOALR01"})
    assert status == 200
    sqs = boto3.client("sqs", endpoint_url=info.aws_endpoint, region_name=info.region)
    internal_id = f"stack-test-{time.time_ns()}"
    good = {"userId": DEMO_USER, "internalMessageId": internal_id, "message": {"text": "From the queue"}}
    for body in (good, {"userId": DEMO_USER, "oops": 1}):
        sqs.send_message(
            QueueUrl=info.queues["SendQueue"],
            MessageBody=json.dumps(body),
            MessageGroupId=DEMO_USER,
            MessageDeduplicationId=str(time.time_ns()),
        )

    thread = wait_until(
        lambda: (lambda r: r[1] if r[0] == 200 else None)(call(info, "GET", f"/messages/{internal_id}/thread"))
    )
    assert thread["original"]["preview"] == "From the queue"

    def dead_letter():
        answer = sqs.receive_message(QueueUrl=info.queues["SendDeadLetterQueue"], MessageAttributeNames=["All"])
        return answer.get("Messages")

    [entry] = wait_until(dead_letter)
    assert entry["MessageAttributes"]["errorCode"]["StringValue"] == "INVALID_MESSAGE"
    wait_until(
        lambda: (
            sqs.get_queue_attributes(QueueUrl=info.queues["SendQueue"], AttributeNames=["All"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
            == "0"
        )
    )


def test_the_health_schedule_runs(stack):
    local, _ = stack
    schedule = next(t for t in local.threads if t.name == "schedule-HealthFunction")
    runs = schedule.runs
    wait_until(lambda: schedule.runs > runs)


def test_the_demo_plays_the_whole_journey(stack):
    _, info = stack
    out = io.StringIO()

    assert Demo(info, out).run() is True

    transcript = out.getvalue()
    assert "Every step did what it should." in transcript
    assert "threaded: True" in transcript and "Slack holds 2 messages in this thread" in transcript


def test_a_stopped_stack_leaves_nothing_running():
    local = LocalStack(api_port=0, aws_port=0, slack_port=0, name="stopped")
    info = local.start()
    api_port = int(info.api_url.rsplit(":", 1)[1])
    aws_port = int(info.aws_endpoint.rsplit(":", 1)[1])

    local.stop()

    assert not any(thread.is_alive() for thread in local.threads)
    for port in (api_port, aws_port):
        with socket.socket() as probe, pytest.raises(OSError):
            probe.settimeout(1)
            probe.connect(("127.0.0.1", port))


def test_with_a_bot_token_it_talks_to_that_slack_instead_of_the_emulator():
    """SLACK_BOT_TOKEN (+ SLACK_API_URL): another Slack stands in for the real one here."""
    real = SlackEmulator()
    real.load_seed(DEMO_SEED)
    url = real.start(port=0)
    seed = json.loads(DEMO_SEED.read_text())["workspaces"][0]
    local = LocalStack(
        api_port=0, aws_port=0, slack_port=0, slack_bot_token=seed["tokens"][0]["token"], slack_api_url=url
    )
    try:
        info = local.start()
        assert info.slack_mode == "slack" and info.slack_api_url == url
        assert local._emulator is None
        status, body = call(info, "GET", "/integration/channels")
        assert status == 200 and body["channels"]
        assert real.calls("conversations.list")
        assert seed["tokens"][0]["token"] not in json.dumps(call(info, "GET", "/_local/info", token=None)[1])
    finally:
        local.stop()
        real.stop()


def _make(*targets: str, env: dict[str, str] | None = None, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", *targets], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def test_make_run_starts_prints_how_to_use_it_and_stops():
    done = _make("run", "RUN_ARGS=--exit-when-ready --in-memory --api-port 0 --aws-port 0 --slack-port 0")

    assert done.returncode == 0, done.stderr
    assert "local stack is up" in done.stdout and "export TOKEN=" in done.stdout


def test_make_demo_exits_0_with_the_thread_in_its_transcript():
    env = {**os.environ, "LOCAL_API_URL": "http://127.0.0.1:9"}  # no stack there: it starts its own
    done = _make("demo", env=env)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Show the thread" in done.stdout and "threaded: True" in done.stdout
    assert done.stdout.rstrip().endswith("Every step did what it should.")


def test_the_local_stack_needs_no_network_beyond_loopback(stack):
    _, info = stack
    for url in (info.api_url, info.aws_endpoint, info.slack_api_url):
        assert url.startswith("http://127.0.0.1:")
    assert sys.modules.get("slack_integration") is not None


def test_paused_delivery_keeps_messages_queued_and_resumes_in_order_exactly_once():
    """DeliveryEnabled=false (the kill switch): producers keep enqueueing, nothing is received,
    and after resume every message is delivered once, in order."""
    import boto3

    from slack_integration.producer import NotificationProducer

    local = LocalStack(api_port=0, aws_port=0, slack_port=0, name="paused", parameters={"DeliveryEnabled": "false"})
    info = local.start()
    try:
        assert call(info, "PUT", "/integration/channel", body={"channelId": "C0DEMOALR01"})[0] == 200
        sqs = boto3.client("sqs", endpoint_url=info.aws_endpoint, region_name=info.region)
        producer = NotificationProducer(info.queues["SendQueue"], info.queues["ReplyQueue"], sqs=sqs)
        for n in range(6):
            producer.send(DEMO_USER, {"text": f"paused {n}"}, internal_message_id=f"paused-{n}")
        time.sleep(2.5)

        emulator = local._emulator
        assert [m for m in emulator.messages("C0DEMOALR01") if m["text"].startswith("paused")] == []
        waiting = sqs.get_queue_attributes(QueueUrl=info.queues["SendQueue"], AttributeNames=["All"])["Attributes"]
        assert (waiting["ApproximateNumberOfMessages"], waiting["ApproximateNumberOfMessagesNotVisible"]) == ("6", "0")

        local.resume_delivery()
        expected = [f"paused {n}" for n in range(6)]
        wait_until(lambda: len([m for m in emulator.messages("C0DEMOALR01") if m["text"].startswith("paused")]) == 6)

        local.pause_delivery()
        producer.send(DEMO_USER, {"text": "paused 6"}, internal_message_id="paused-6")
        time.sleep(1.5)
        local.resume_delivery()
        expected.append("paused 6")
        wait_until(lambda: len([m for m in emulator.messages("C0DEMOALR01") if m["text"].startswith("paused")]) == 7)
        time.sleep(1.0)  # anything posted twice would show now
        assert [m["text"] for m in emulator.messages("C0DEMOALR01") if m["text"].startswith("paused")] == expected
    finally:
        local.stop()


def test_add_to_slack_in_a_browser_and_slacks_signed_events_reach_the_stack(stack):
    local, info = stack
    from tests.support.slack_app import consent

    # The browser's path: the stack's connect page -> Slack's consent -> the callback -> back.
    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirects)
    with pytest.raises(urllib.error.HTTPError) as to_slack:
        opener.open(info.connect_url, timeout=10)
    authorize_url = to_slack.value.headers["Location"]
    assert authorize_url.startswith(info.slack_authorize_url + "?")
    answer = consent(authorize_url, "T0DEMO0001")
    callback = f"{info.api_url}/slack/oauth/callback?code={answer['code']}&state={answer['state']}"
    with pytest.raises(urllib.error.HTTPError) as back:
        opener.open(callback, timeout=10)
    assert back.value.headers["Location"] == f"{info.api_url}/settings/integrations?slack=connected"
    with urllib.request.urlopen(back.value.headers["Location"], timeout=10) as page:
        # The dashboard itself, which reads ?slack=connected (tests/browser plays it in Chromium).
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.read() == (ROOT / "local" / "dashboard" / "index.html").read_bytes()

    # Slack archives the notification channel and says so, signed, over HTTP.
    assert call(info, "PUT", "/integration/channel", body={"channelId": "C0DEMOENG01"})[0] == 200
    [delivery] = local._emulator.archive_channel("T0DEMO0001", "C0DEMOENG01")
    assert delivery["status"] == 200
    status = call(info, "GET", "/integration/status")[1]
    assert status["healthStatus"] == "needs_new_channel" and status["code"] == "CHANNEL_ARCHIVED"
    [delivery] = local._emulator.unarchive_channel("T0DEMO0001", "C0DEMOENG01")
    assert delivery["status"] == 200
    assert call(info, "GET", "/integration/status")[1]["canSend"] is True
    # An unsigned request to the events route is refused by the function, not by a JWT check.
    request = urllib.request.Request(info.slack_events_url, data=b'{"type":"url_verification"}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401 and json.loads(refused.value.read())["code"] == "SIGNATURE_INVALID"


def test_a_taken_port_fails_at_once_with_what_to_do():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        local = LocalStack(api_port=0, aws_port=port, slack_port=0, name="taken")
        with pytest.raises(OSError, match=rf"port {port} \(aws\).*already in use.*--aws-port"):
            local.start()
        local.stop()
        assert time.monotonic() - started < 5


def test_make_token_mints_a_jwt_for_any_user_that_the_stack_accepts(stack):
    _, info = stack
    done = subprocess.run(
        [sys.executable, "-m", "local.token", "alice"],
        capture_output=True,
        text=True,
        env={**os.environ, "LOCAL_API_URL": info.api_url, "PYTHONPATH": f"{ROOT}:{ROOT / 'shared'}"},
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    status, body = call(info, "GET", "/integration/status", token=token)
    assert status == 200 and body["code"] == "INTEGRATION_NOT_FOUND"  # alice is signed in, not connected
    missing = subprocess.run(
        [sys.executable, "-m", "local.token", "alice"],
        capture_output=True,
        text=True,
        env={**os.environ, "LOCAL_API_URL": "http://127.0.0.1:9", "PYTHONPATH": f"{ROOT}:{ROOT / 'shared'}"},
        timeout=30,
        check=False,
    )
    assert missing.returncode == 1 and "make run" in missing.stderr
