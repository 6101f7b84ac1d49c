"""Configuration: one validated model, with errors that name the variable."""

from __future__ import annotations

import pytest

from slack_integration.config import ConfigError, load_settings

VALID = {
    "INTEGRATIONS_TABLE": "integrations",
    "MESSAGE_MAPPINGS_TABLE": "mappings",
    "DELIVERIES_TABLE": "deliveries",
    "LIFECYCLE_TABLE": "lifecycle",
    "TOKEN_SECRET_PREFIX": "buster/slack/bot-token/",
}


def test_defaults():
    settings = load_settings(VALID)
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.token_cache_seconds == 300
    assert settings.slack_timeout_seconds == 5.0
    assert settings.slack_app_secret_name == "buster/slack/app"
    assert settings.oauth_authorize_url == "https://slack.com/oauth/v2/authorize"
    assert settings.oauth_redirect_url is None
    assert settings.token_refresh_minutes == 120


@pytest.mark.parametrize("name", ["SLACK_OAUTH_AUTHORIZE_URL", "SLACK_OAUTH_REDIRECT_URL", "DASHBOARD_RETURN_URL"])
def test_lifecycle_urls_must_be_http_urls(name):
    with pytest.raises(ConfigError, match=name):
        load_settings({**VALID, name: "javascript:alert(1)"})


def test_missing_variables_are_named():
    with pytest.raises(ConfigError) as raised:
        load_settings({"TOKEN_SECRET_PREFIX": "p/"})
    assert "INTEGRATIONS_TABLE (missing)" in str(raised.value)
    assert "MESSAGE_MAPPINGS_TABLE (missing)" in str(raised.value)


def test_empty_string_counts_as_missing():
    with pytest.raises(ConfigError, match="INTEGRATIONS_TABLE"):
        load_settings({**VALID, "INTEGRATIONS_TABLE": ""})


def test_slack_api_url_gets_its_trailing_slash():
    assert load_settings({**VALID, "SLACK_API_URL": "http://127.0.0.1:3001/api"}).slack_api_url == (
        "http://127.0.0.1:3001/api/"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("SLACK_API_URL", "slack.com/api"), ("SLACK_TIMEOUT_SECONDS", "0"), ("TOKEN_CACHE_SECONDS", "-1")],
)
def test_malformed_values_are_named(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**VALID, name: value})
