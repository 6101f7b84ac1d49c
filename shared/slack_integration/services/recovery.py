"""Finding the post of an attempt whose outcome is unknown, within Slack's real limits.

Slack allows distributed apps outside its Marketplace one conversations.history (and one
conversations.replies) call a minute per workspace, 15 messages a page, and a bot reads a public
channel's history only as a member. So the search:
- looks only where the post can be: between the uncertain attempts' start and end (plus clock
  skew), so messages posted after ours do not fill the pages;
- reads page by page and, when Slack cuts it short (429), keeps its cursor in the ledger: the
  next attempt resumes there instead of starting over and meeting the same limit again;
- joins a public channel it is not a member of (channels:join), then reads.
`look_failure` is the one place that says what a failed search means; "cannot verify" never
flags the integration (the install is fine; health reports missing scopes).
"""

from __future__ import annotations

from enum import StrEnum

from slack_integration.adapters.delivery_ledger import DeliveryLedger
from slack_integration.adapters.slack_client import SlackGateway
from slack_integration.errors import DELIVERY_LOOK_CONTINUES, DELIVERY_UNVERIFIABLE, ServiceError
from slack_integration.models.delivery import DeliveryRecord
from slack_integration.models.slack import Post, Posted
from slack_integration.observability import logger

# Slack's clock and ours differ a little; the window is widened by this much on each side.
CLOCK_SKEW_SECONDS = 30
# Pages one attempt reads before it lets the next attempt go on from the cursor.
MAX_PAGES_PER_ATTEMPT = 10


class LookFailure(StrEnum):
    RETRY = "retry"  # throttled or Slack trouble: look again later, from where this one stopped
    NOT_A_MEMBER = "not_a_member"  # the bot must join the public channel to read it
    CANNOT_VERIFY = "cannot_verify"  # the install cannot read here (a scope): an operator decides
    THREAD_GONE = "thread_gone"  # the parent is gone: a reply posted under it cannot be seen anyway
    FAILED = "failed"  # the channel or the install is unusable: as for a post


def look_failure(error: ServiceError) -> LookFailure:
    """What a failed search for an earlier post means (the only place that decides it)."""
    if error.retryable:
        return LookFailure.RETRY
    if error.slack_error == "not_in_channel":
        return LookFailure.NOT_A_MEMBER
    if error.slack_error in ("missing_scope", "no_permission", "access_denied", "not_allowed_token_type"):
        return LookFailure.CANNOT_VERIFY
    if error.slack_error == "thread_not_found":
        return LookFailure.THREAD_GONE
    return LookFailure.FAILED


class LookCutShort(Exception):
    """A search stopped before its end: the error to retry with, and where to resume."""

    def __init__(self, error: ServiceError, cursor: str | None) -> None:
        super().__init__(error.code)
        self.error = error
        self.cursor = cursor


class EarlierPostFinder:
    def __init__(self, slack: SlackGateway, ledger: DeliveryLedger) -> None:
        self._slack = slack
        self._ledger = ledger

    def find(self, integration_id: str, post: Post, previous: DeliveryRecord, now: float) -> Posted | None:
        """The earlier attempt's post, or None once Slack is known not to hold it (the ledger
        then says so). Raises LookCutShort when the search must go on later."""
        since, until = previous.look_window(now)
        oldest, latest = since - CLOCK_SKEW_SECONDS, until + CLOCK_SKEW_SECONDS
        cursor = previous.look_cursor
        joined = False
        pages = 0
        while True:
            try:
                found, cursor = self._slack.find_post_page(
                    integration_id, post, oldest=oldest, latest=latest, cursor=cursor
                )
            except ServiceError as err:
                verdict = look_failure(err)
                if verdict is LookFailure.NOT_A_MEMBER and not joined:
                    joined = self._join(integration_id, post.channel_id)
                    if joined:
                        continue
                if verdict is LookFailure.THREAD_GONE:
                    break
                if verdict in (LookFailure.NOT_A_MEMBER, LookFailure.CANNOT_VERIFY):
                    err = DELIVERY_UNVERIFIABLE.error(slack_error=err.slack_error, detail=err.detail or err.code)
                raise LookCutShort(err, cursor if verdict is LookFailure.RETRY else None) from None
            pages += 1
            if found is not None:
                return found
            if cursor is None:
                break
            if pages >= MAX_PAGES_PER_ATTEMPT:
                raise LookCutShort(DELIVERY_LOOK_CONTINUES.error(retry_after=1), cursor)
        self._ledger.verified_absent(previous.key)
        return None

    def _join(self, integration_id: str, channel_id: str) -> bool:
        try:
            self._slack.join(integration_id, channel_id)
        except ServiceError as err:
            logger.info("Could not join the channel to look for an earlier post", extra={"code": err.code})
            return False
        logger.info("Joined the channel to look for an earlier post", extra={"channel_id": channel_id})
        return True
