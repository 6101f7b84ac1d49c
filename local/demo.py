"""`make demo`: the PRD's user journey against the local stack, as a readable transcript.

Uses a running stack (`make run`, found at LOCAL_API_URL or http://127.0.0.1:3000) or starts one
of its own on free ports. Every step checks what it should have done; the exit code is 0 only if
all of them did.

  1. Add to Slack                                POST /integration/install -> Slack's consent page
                                                 -> GET /slack/oauth/callback -> back to the dashboard
  2. list the workspace's channels               GET /integration/channels
  3. pick #alerts as notification channel        PUT /integration/channel
  4. send a tracked deployment notification      producer.send -> send queue -> send function -> Slack
  5. reply to it in its thread                   producer.reply -> reply queue -> reply function
  6. show the thread                             GET /messages/{id}/thread?slack=true
  7. show the stats and the status               GET /integration/stats, GET /integration/status
  8. a deployment from two domain events         PutEvents "Deployment Started", then "Deployment Completed":
                                                 the message updated in place, a reply in its thread, receipts
  9. Slack says the app was uninstalled          a signed app_uninstalled event -> POST /slack/events
  10. Add to Slack again                         the same integration, the same channel, sending again
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit

from local.stack import DEMO_CHANNEL, DEMO_SEED, LocalStack, StackInfo

WAIT_SECONDS = 30


class StepFailed(Exception):
    pass


class Demo:
    def __init__(self, info: StackInfo, out: TextIO) -> None:
        self.info = info
        self.out = out
        self.internal_id = f"deploy-demo-{int(time.time())}"

    # the journey

    def run(self) -> bool:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("Add to Slack: connect the demo workspace", self.connect),
            ("List the workspace's public channels", self.list_channels),
            (f"Pick #{DEMO_CHANNEL} as the notification channel", self.pick_channel),
            ("Send a tracked deployment notification through the send queue", self.send),
            ("Reply to it through the reply queue", self.reply),
            ("Show the thread", self.thread),
            ("Show the stats and the status", self.stats),
            ("A deployment from Buster's domain events: Started, then Completed", self.domain_events),
            ("Slack tells the stack the app was uninstalled from the workspace", self.uninstall),
            ("Add to Slack again: the same integration and channel", self.reconnect),
        ]
        self.say(f"Buster Slack messaging demo against {self.info.api_url} (Slack: {self.info.slack_mode})\n")
        for number, (title, step) in enumerate(steps, start=1):
            self.say(f"{number}. {title}")
            try:
                step()
            except StepFailed as failure:
                self.say(f"   FAILED: {failure}\n\nThe demo stopped at step {number}.")
                return False
            self.say("")
        self.say("Every step did what it should.")
        return True

    def connect(self) -> None:
        if self.info.slack_mode != "emulator":
            self.say("   (a real workspace: the stack connected it with SLACK_BOT_TOKEN at start)")
            return
        status, body = self.api("POST", "/integration/install")
        self.expect(status == 200, f"POST /integration/install answered {status}: {body}")
        url = body["url"]
        self.say(f"   the dashboard sends the browser to Slack: {url.split('?')[0]}?client_id=…&scope=…&state=…")
        # Slack's consent screen, as the installer's browser sees it; then "Allow".
        query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
        with urllib.request.urlopen(url, timeout=10) as page:  # noqa: S310 - the emulator, on loopback
            self.expect("Allow" in page.read().decode(), "Slack's consent page has no Allow button")
        seed = json.loads(DEMO_SEED.read_text())["workspaces"][0]
        form = {key: query.get(key, "") for key in ("client_id", "scope", "redirect_uri", "state")}
        form |= {"team": seed["team_id"], "decision": "allow"}
        callback = self.redirect(url.split("?")[0], urlencode(form).encode())
        self.expect(callback.startswith(self.info.api_url + "/slack/oauth/callback?"), f"Slack sent us to {callback}")
        self.say(f"   Slack redirects back with a code: {callback.split('?')[0]}?code=…&state=…")
        back = self.redirect(callback)
        self.expect(back.endswith("?slack=connected"), f"the callback sent the browser to {back}")
        self.say(f"   and the callback sends the browser back to the dashboard: {back}")
        status, capability = self.api("GET", "/integration/status")
        self.expect(status == 200 and capability["integrationActive"], f"status after Add to Slack: {capability}")
        self.say(f"   {self.info.demo_user} -> workspace {seed['name']} ({seed['team_id']}); token in Secrets Manager")

    def redirect(self, url: str, data: bytes | None = None) -> str:
        """Where a 302 answer to this request points (not followed)."""

        class Stop(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        request = urllib.request.Request(url, data=data, method="POST" if data else "GET")  # noqa: S310 - loopback
        try:
            urllib.request.build_opener(Stop).open(request, timeout=10)
        except urllib.error.HTTPError as answer:
            if answer.code == 302:
                return str(answer.headers["Location"])
            raise StepFailed(f"{url.split('?')[0]} answered {answer.code}") from None
        raise StepFailed(f"{url.split('?')[0]} did not redirect")

    def list_channels(self) -> None:
        status, body = self.api("GET", "/integration/channels")
        self.expect(status == 200, f"GET /integration/channels answered {status}: {body}")
        names = [f"#{c['name']}" for c in body["channels"]]
        self.expect(f"#{DEMO_CHANNEL}" in names, f"#{DEMO_CHANNEL} is not among {names}")
        self.channel_id = next(c["id"] for c in body["channels"] if c["name"] == DEMO_CHANNEL)
        self.say(f"   {len(names)} channels: {', '.join(names)}")

    def pick_channel(self) -> None:
        status, body = self.api("PUT", "/integration/channel", {"channelId": self.channel_id})
        self.expect(status == 200, f"PUT /integration/channel answered {status}: {body}")
        self.say(f"   {body['message']}")

    def send(self) -> None:
        self.producer().send(
            self.info.demo_user,
            event={
                "type": "deployment",
                "data": {
                    "project": "buster-api",
                    "environment": "production",
                    "version": "1.4.2",
                    "duration": "3m 12s",
                },
            },
            internal_message_id=self.internal_id,
            message_type="deployment",
        )
        self.say(f"   enqueued {self.internal_id}; waiting for the send function...")
        thread = self.wait_for(lambda t: t is not None, "the notification to be delivered")
        self.say(f"   delivered to Slack: ts {thread['original']['ts']} in {thread['original']['channelId']}")

    def reply(self) -> None:
        self.producer().reply(
            self.internal_id,
            template={
                "name": "SYSTEM_UPDATE",
                "variables": {"message": "Deployment 1.4.2 verified: all checks passed"},
            },
        )
        self.say("   enqueued the reply; waiting for the reply function...")
        thread = self.wait_for(
            lambda t: t is not None and any(r["status"] == "delivered" for r in t["replies"]),
            "the reply to be delivered",
        )
        reply = thread["replies"][0]
        self.expect(reply["threaded"] is True, "Slack did not put the reply in the thread")
        self.say(f"   delivered in the thread: ts {reply['ts']}")

    def thread(self) -> None:
        status, body = self.api("GET", f"/messages/{self.internal_id}/thread", query="slack=true")
        self.expect(status == 200, f"GET thread answered {status}: {body}")
        original = body["original"]
        self.say(f"   {original['ts']}  {original['preview']}")
        for reply in body["replies"]:
            preview = " / ".join(line for line in (reply["preview"] or "").splitlines() if line)
            self.say(f"     └ {reply['ts']}  {preview}  ({reply['status']}, threaded: {reply['threaded']})")
        slack = body.get("slack") or {}
        if slack.get("available"):
            self.say(f"   Slack holds {len(slack['messages'])} messages in this thread")
            self.expect(len(slack["messages"]) >= 2, "Slack's thread lacks the reply")

    def stats(self) -> None:
        status, stats = self.api("GET", "/integration/stats")
        self.expect(status == 200, f"GET /integration/stats answered {status}: {stats}")
        self.expect(stats["delivered"] >= 2, f"stats count {stats['delivered']} deliveries, expected at least 2")
        self.say(
            f"   last 24 h: {stats['delivered']} delivered, {stats['failed']} failed, "
            f"delivery rate {stats['deliveryRate']}, replies {stats['replies']['threaded']} threaded, "
            f"threads {stats['threads']}, latency p50 {stats['latency']['medianMs']} ms"
        )
        status, capability = self.api("GET", "/integration/status")
        self.expect(status == 200 and capability["canSend"] is True, f"status says it cannot send: {capability}")
        self.say(f"   status: canSend {capability['canSend']}, health {capability['healthStatus']}")

    def domain_events(self) -> None:
        tap = self.receipts_tap()
        deployment = {"userId": self.info.demo_user, "deploymentId": self.internal_id, "project": "buster-web"}
        self.producer().publish_domain_event(
            "buster.deployments", "Deployment Started", {**deployment, "version": "3.1.0"}
        )
        internal_id = f"deployment-{self.internal_id}"
        self.say("   PutEvents buster.deployments / Deployment Started; waiting for the rule, the queues, Slack...")
        started = self.wait_for(lambda t: t is not None, "the deployment notification", internal_id)
        self.say(f"   posted: {started['original']['preview']}")
        finished = {**deployment, "version": "3.1.0", "duration": "2m 40s"}
        self.producer().publish_domain_event("buster.deployments", "Deployment Completed", finished)
        self.say("   PutEvents buster.deployments / Deployment Completed")
        done = self.wait_for(
            lambda t: t is not None and t["original"]["updates"] >= 1 and any(r["ts"] for r in t["replies"]),
            "the update and the reply",
            internal_id,
        )
        self.expect("Deployment Complete" in done["original"]["preview"], f"not updated: {done['original']}")
        self.say(f"   updated in place ({done['original']['updates']}x): {done['original']['preview'][:70]}")
        self.say(f"   and replied in its thread: ts {done['replies'][0]['ts']}")
        deadline = time.monotonic() + WAIT_SECONDS
        receipts: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(receipts) < 3:
            receipts += tap()
            time.sleep(0.3)
        kinds = sorted(r["detail-type"] for r in receipts)
        self.expect(len(receipts) >= 3, f"receipts seen on the bus: {kinds}")
        self.say(f"   receipts on EventBridge: {', '.join(kinds)}")

    def receipts_tap(self) -> Callable[[], list[dict[str, Any]]]:
        """What a producer service would subscribe: a rule on the bus for Buster's receipts."""
        events, sqs = self.aws("events"), self.aws("sqs")
        name = f"demo-receipts-{self.internal_id}"
        queue = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        pattern = {
            "source": ["buster.slack-messaging"],
            "detail": {"internalMessageId": [f"deployment-{self.internal_id}"]},
        }
        events.put_rule(Name=name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, Targets=[{"Id": "demo", "Arn": arn}])

        def received() -> list[dict[str, Any]]:
            found = []
            for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            return found

        return received

    def uninstall(self) -> None:
        if self.info.slack_mode != "emulator":
            self.say("   (a real workspace: not uninstalled by the demo)")
            return
        emulator = self.info.slack_api_url.removesuffix("/").removesuffix("/api")
        seed = json.loads(DEMO_SEED.read_text())["workspaces"][0]
        request = urllib.request.Request(  # noqa: S310 - the emulator's control endpoint, on loopback
            f"{emulator}/_emulator/uninstall",
            data=json.dumps({"team_id": seed["team_id"]}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback only
            deliveries = json.loads(answer.read())["deliveries"]
        for delivery in deliveries:
            self.say(f"   Slack -> POST /slack/events {delivery['event_type']}: {delivery['status']}")
            self.expect(delivery["status"] == 200, f"the stack answered {delivery['event_type']} with {delivery}")
        _, capability = self.api("GET", "/integration/status")
        self.expect(capability["healthStatus"] == "needs_reconnect", f"status after the uninstall: {capability}")
        self.say(f"   status: canSend {capability['canSend']}, {capability['code']}: {capability['error']}")

    def reconnect(self) -> None:
        if self.info.slack_mode != "emulator":
            return
        self.connect()
        _, saved = self.api("GET", "/integration/channel")
        channel = (saved or {}).get("notificationChannel") or {}
        self.expect(channel.get("channelName") == DEMO_CHANNEL, f"the channel was not kept: {saved}")
        _, capability = self.api("GET", "/integration/status")
        self.expect(capability["canSend"] is True, f"status after reconnecting: {capability}")
        self.say(f"   #{channel['channelName']} kept; status: canSend {capability['canSend']}")

    # plumbing

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def expect(self, condition: bool, failure: str) -> None:
        if not condition:
            raise StepFailed(failure)

    def api(self, method: str, path: str, body: Any = None, query: str = "") -> tuple[int, Any]:
        url = self.info.api_url + path + (f"?{query}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the stack's own http URL
        request.add_header("authorization", f"Bearer {self.info.dev_token}")
        if data is not None:
            request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback only
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def wait_for(self, ready: Callable[[Any], bool], what: str, internal_id: str | None = None) -> Any:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            status, body = self.api("GET", f"/messages/{internal_id or self.internal_id}/thread")
            thread = body if status == 200 else None
            if ready(thread):
                return thread
            time.sleep(0.2)
        raise StepFailed(f"timed out after {WAIT_SECONDS} s waiting for {what}")

    def producer(self) -> Any:

        from slack_integration.producer import NotificationProducer

        return NotificationProducer(
            self.info.queues["SendQueue"],
            self.info.queues["ReplyQueue"],
            sqs=self.aws("sqs"),
            events=self.aws("events"),
        )

    def aws(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.info.aws_endpoint,
            region_name=self.info.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        )


def running_stack(api_url: str) -> StackInfo | None:
    try:
        with urllib.request.urlopen(f"{api_url}/_local/info", timeout=2) as answer:  # noqa: S310 - loopback only
            return StackInfo(**json.loads(answer.read()))
    except (OSError, ValueError, TypeError):
        return None


def main(out: TextIO = sys.stdout) -> int:
    api_url = os.environ.get("LOCAL_API_URL", "http://127.0.0.1:3000")
    info = running_stack(api_url)
    stack: LocalStack | None = None
    if info is None:
        print(f"No local stack at {api_url}; starting one for the demo...\n", file=out, flush=True)
        stack = LocalStack(api_port=0, aws_port=0, slack_port=0)
        info = stack.start()
    try:
        ok = Demo(info, out).run()
    finally:
        if stack is not None:
            stack.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
