"""The reference dashboard, played as a person would in a real browser: sign in, Add to Slack
through Slack's consent page (the emulator's), search and pick a channel, watch a producer's
notification arrive with its reply, see a dead-lettered one with its reason, read the stats,
disconnect. Each step is checked on the page and against what Slack (the emulator) and the
stack hold; every test also fails on any script error or CSP violation the page reports."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import expect

from local.api_server import RETURN_PATH
from slack_integration.producer import NotificationProducer

JOURNEY_USER = "user-browser-1"
DEMO_TEAM = "T0DEMO0001"
ALERTS = "C0DEMOALR01"  # channels of local/slack_emulator/demo_seed.json
RANDOM = "C0DEMORND01"


def producer(info: Any) -> NotificationProducer:
    import boto3

    sqs = boto3.client(
        "sqs",
        endpoint_url=info.aws_endpoint,
        region_name=info.region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return NotificationProducer(info.queues["SendQueue"], info.queues["ReplyQueue"], sqs=sqs)


def break_slack(info: Any, **fault: Any) -> None:
    """Through the emulator's control route, as a developer would from another shell."""
    base = info.slack_api_url.removesuffix("/").removesuffix("/api")
    request = urllib.request.Request(
        f"{base}/_emulator/faults",
        data=json.dumps(fault).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.load(answer)["ok"] is True


def sign_in(page: Any, info: Any, user: str) -> None:
    page.goto(info.api_url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("User id").fill(user)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#session-user")).to_have_text(user)


def add_to_slack(page: Any, info: Any, workspace: str | None = None) -> None:
    page.get_by_role("button", name=re.compile("Add to Slack|Reconnect Slack")).click()
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    if workspace:
        page.locator("select").select_option(label=workspace)
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(re.compile(re.escape(info.api_url + RETURN_PATH)))


def test_the_whole_journey_from_sign_in_to_disconnect(stack, page, screenshot):
    local, info = stack
    emulator = local.emulator

    sign_in(page, info, JOURNEY_USER)
    expect(page.locator("#connection-state")).to_contain_text("No Slack workspace is connected")
    expect(page.locator("#channel")).to_be_hidden()
    screenshot(page, "signed-in")

    # Add to Slack: our install route, Slack's consent page, the callback, back to the dashboard.
    page.get_by_role("button", name="Add to Slack").click()
    expect(page.get_by_role("button", name="Allow")).to_be_visible()
    screenshot(page, "slack-consent")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(re.compile(re.escape(info.api_url + RETURN_PATH)))
    expect(page.locator("#notice")).to_contain_text("Slack is connected")
    expect(page.locator("#connection-state")).to_contain_text("Buster Demo")
    assert "slack=" not in page.url  # the outcome was read, then taken out of the address
    expect(page.locator("#current-channel")).to_contain_text("No channel chosen yet")

    # The picker: type to filter, the bot's membership and the purpose are shown, save.
    search = page.get_by_label("Find a public channel")
    search.fill("alert")
    results = page.locator("#channel-results li")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("#alerts")
    search.fill("")
    expect(page.locator("#channel-count")).to_contain_text("channels")
    assert results.count() >= 5
    search.fill("alerts")
    page.locator("#channel-results label", has_text="#alerts").click()
    page.get_by_role("button", name="Save channel").click()
    expect(page.locator("#channel-result")).to_have_text("Notification channel set to #alerts")
    expect(page.locator("#current-channel")).to_have_text("Notifications go to #alerts.")
    # Saving made the bot join: the list says so now, as Slack does.
    expect(page.locator("#channel-results li", has_text="#alerts")).to_contain_text("Buster is in it")
    expect(page.locator("#connection-state")).to_contain_text("Buster can post")
    screenshot(page, "channel-saved")

    # A producer sends a tracked notification, then replies in its thread.
    notifications = producer(info)
    notifications.send(
        JOURNEY_USER, {"text": "Deploy #7 of api started"}, internal_message_id="browser-7", message_type="deployment"
    )
    row = page.locator('tr[data-message-id="browser-7"]')
    expect(row).to_contain_text("Delivered", timeout=20_000)
    expect(row).to_contain_text("Deploy #7 of api started")
    notifications.reply("browser-7", {"text": "Deploy #7 finished in 4 min"}, user_id=JOURNEY_USER)
    expect(row.locator("td.replies")).to_have_text("1", timeout=20_000)
    row.get_by_role("button", name="Open the thread of browser-7").click()
    thread = page.locator("#thread")
    expect(thread).to_contain_text("Deploy #7 finished in 4 min")
    expect(thread.locator("li")).to_have_count(1)
    expect(page.locator("#thread-title")).to_be_focused()
    [original] = [m for m in emulator.messages(ALERTS) if m["text"] == "Deploy #7 of api started"]
    assert [r["text"] for r in emulator.messages(ALERTS) if r.get("thread_ts") == original["ts"] != r["ts"]] == [
        "Deploy #7 finished in 4 min"
    ]

    # Slack refuses the next one for good: it is dead-lettered, and the page says why.
    break_slack(info, method="chat.postMessage", kind="error", error="invalid_blocks")
    notifications.send(JOURNEY_USER, {"text": "Broken blocks"}, internal_message_id="browser-8")
    failed = page.locator('tr[data-message-id="browser-8"]')
    expect(failed).to_contain_text("Not delivered", timeout=20_000)
    expect(failed).to_contain_text("Slack rejected the message's blocks.")
    expect(failed.get_by_role("button")).to_have_count(0)  # no thread to open

    # Stats: the KPIs and a chart with a bar for what was delivered and what failed.
    page.get_by_role("button", name="Refresh").last.click()
    kpis = page.locator("#kpis")
    expect(kpis).to_contain_text("Notifications sent")
    expect(page.locator("#chart rect.bar-delivered")).not_to_have_count(0)
    expect(page.locator("#chart rect.bar-failed")).not_to_have_count(0)
    expect(page.locator("#chart-summary")).to_contain_text("1 failed")
    screenshot(page, "what-was-sent")
    page.locator("#close-thread").click()
    expect(row.get_by_role("button")).to_be_focused()  # focus goes back where it came from

    # Disconnect asks first; cancelling changes nothing.
    page.get_by_role("button", name="Disconnect").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Buster Demo")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#connection-state")).to_contain_text("Buster can post")
    page.get_by_role("button", name="Disconnect").click()
    screenshot(page, "confirm-disconnect", full_page=False)
    dialog.get_by_role("button", name="Disconnect").click()
    expect(page.locator("#notice")).to_contain_text("Slack is disconnected")
    expect(page.get_by_role("button", name="Reconnect Slack")).to_be_visible()
    expect(page.locator("#connection-state")).to_contain_text("disconnected")
    # What was sent stays readable after a disconnect.
    expect(page.locator('tr[data-message-id="browser-7"]')).to_be_visible()
    screenshot(page, "disconnected")


def test_a_refused_channel_shows_the_apis_message(stack, page):
    local, info = stack
    sign_in(page, info, "user-browser-refused")
    add_to_slack(page, info)
    # Slack archives the channel after the list was read: the API refuses it, the page says why.
    search = page.get_by_label("Find a public channel")
    search.fill("random")
    expect(page.locator("#channel-results li")).to_have_count(1)  # listed while it was open
    local.emulator.archive_channel(DEMO_TEAM, RANDOM)
    page.locator("#channel-results label", has_text="#random").click()
    page.get_by_role("button", name="Save channel").click()
    result = page.locator("#channel-result")
    expect(result).to_have_class(re.compile("error"))
    expect(result).to_contain_text("archived")
    expect(page.locator("#current-channel")).to_contain_text("No channel chosen yet")


def test_thousands_of_channels_stay_responsive(stack, page):
    local, info = stack
    emulator = local.emulator
    emulator.add_workspace("T0BIGCO001", "Big Co", domain="bigco")
    for n in range(3000):
        emulator.add_channel("T0BIGCO001", f"team-{n:04d}", purpose=f"Channel number {n}", num_members=n % 50)
    sign_in(page, info, "user-browser-big")
    add_to_slack(page, info, workspace="Big Co (bigco.slack.com)")
    expect(page.locator("#connection-state")).to_contain_text("Big Co")
    expect(page.locator("#channel-count")).to_contain_text("of 3,")  # "Showing 100 of 3,00x channels"
    assert page.locator("#channel-results li").count() == 100  # never thousands of nodes at once

    # One keystroke's filtering and rendering, timed in the page itself.
    took = page.evaluate(
        """() => {
            const input = document.getElementById("channel-search");
            input.value = "team-12";
            const started = performance.now();
            renderChannels();
            return performance.now() - started;
        }"""
    )
    assert took < 100, f"filtering 3,000 channels took {took:.0f} ms"
    expect(page.locator("#channel-results li")).to_have_count(100)  # team-12, team-120..team-1299
    page.get_by_label("Find a public channel").fill("number 2999")
    expect(page.locator("#channel-results li")).to_have_count(1)
    expect(page.locator("#channel-results li")).to_contain_text("#team-2999")


def test_keyboard_only_and_visible_focus(stack, page):
    _, info = stack
    page.goto(info.api_url + "/")
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    field = page.get_by_label("User id")
    field.focus()
    field.fill("user-browser-keys")
    page.keyboard.press("Enter")
    expect(page.locator("#session-user")).to_have_text("user-browser-keys")
    add_to_slack(page, info)

    search = page.get_by_label("Find a public channel")
    expect(page.locator("#channel-count")).to_contain_text("channels")  # the list has loaded
    search.focus()
    page.keyboard.type("engineering")
    expect(page.locator("#channel-results li")).to_have_count(1)
    page.keyboard.press("Tab")  # into the radio group
    page.keyboard.press("Space")
    focused_label_outline = page.evaluate(
        "() => getComputedStyle(document.activeElement.nextElementSibling).outlineStyle"
    )
    assert focused_label_outline == "solid", "the focused channel shows no focus ring"
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Save channel")).to_be_focused()
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    expect(page.locator("#current-channel")).to_contain_text("#engineering")


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1366, 768)])
def test_readable_on_a_phone_and_a_laptop(stack, browser, width, height, screenshot):
    _, info = stack
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        sign_in(page, info, info.demo_user)
        expect(page.locator("#connection-state")).to_contain_text("Buster Demo")
        expect(page.locator("#channel-results li").first).to_be_visible()
        time.sleep(0.2)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow}px of horizontal scrolling at {width}px wide"
        screenshot(page, f"{width}x{height}")
    finally:
        context.close()


def test_a_newcomer_sends_a_notification_and_its_reply_from_the_page(stack, page, screenshot):
    local, info = stack
    sign_in(page, info, "user-browser-newcomer")
    add_to_slack(page, info)
    page.get_by_label("Find a public channel").fill("general")
    page.locator("#channel-results label", has_text="#general").click()
    page.get_by_role("button", name="Save channel").click()
    expect(page.locator("#current-channel")).to_have_text("Notifications go to #general.")

    # The local stack's stand-in for a Buster service: the send queue, then the reply queue.
    page.get_by_label("Notification text").fill("Newcomer's first notification")
    page.get_by_role("button", name="Send notification").click()
    expect(page.locator("#try-result")).to_contain_text("queued")
    row = page.locator("#message-rows tr", has_text="Newcomer's first notification")
    expect(row).to_contain_text("Delivered", timeout=20_000)
    page.get_by_label("Reply in its thread").fill("And its first reply")
    page.get_by_role("button", name="Send reply").click()
    expect(row.locator("td.replies")).to_have_text("1", timeout=20_000)
    screenshot(page, "try-it")

    [original] = [m for m in local.emulator.messages("C0DEMOGEN01") if m["text"] == "Newcomer's first notification"]
    replies = [
        m["text"] for m in local.emulator.messages("C0DEMOGEN01") if m.get("thread_ts") == original["ts"] != m["ts"]
    ]
    assert replies == ["And its first reply"]


def test_the_stand_in_producer_needs_the_signed_in_user_and_a_text(stack):
    _, info = stack

    def post(body: Any, token: str | None) -> tuple[int, Any]:
        request = urllib.request.Request(f"{info.api_url}/_local/notify", data=json.dumps(body).encode(), method="POST")
        if token:
            request.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    assert post({"text": "hi"}, None)[0] == 401
    assert post({"text": "hi"}, "forged.token.value")[0] == 401
    status, body = post({"text": "   "}, info.dev_token)
    assert (status, body["code"]) == (422, "INVALID_MESSAGE")
    assert post({"text": "hi", "replyTo": 7}, info.dev_token)[0] == 422


def test_an_id_typed_while_the_page_is_still_loading_is_kept(stack, page):
    _, info = stack
    held: list[Any] = []
    page.route("**/_local/info", lambda route: held.append(route))  # the answer waits for the typing
    page.goto(info.api_url + "/")
    field = page.get_by_label("User id")
    field.fill("user-browser-early")
    page.wait_for_timeout(100)
    assert len(held) == 1
    with page.expect_response("**/_local/info"):
        held[0].continue_()
    page.wait_for_timeout(200)  # the page's own handler of that answer has run

    expect(field).to_have_value("user-browser-early")  # not replaced by the demo user
