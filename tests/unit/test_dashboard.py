"""The reference dashboard's own catalogue of Add to Slack outcomes (the callback sends only a
code): every code the callback can send is there, in the API's exact words."""

from __future__ import annotations

import json
import re

from local.template import ROOT
from slack_integration import errors

APP_JS = (ROOT / "local" / "dashboard" / "app.js").read_text()


def _install_errors() -> dict[str, str]:
    block = re.search(r"const START_AGAIN = (\"[^\"]*\");\nconst INSTALL_ERRORS = \{(.*?)\n\};", APP_JS, re.S)
    assert block, "app.js no longer defines START_AGAIN and INSTALL_ERRORS"
    start_again = json.loads(block.group(1))
    entries = re.findall(r"(\w+):\s*(\"[^\"]*\"|`[^`]*`)", block.group(2))
    return {code: text.strip('"`').replace("${START_AGAIN}", start_again) for code, text in entries}


def test_every_code_the_oauth_callback_sends_has_the_apis_message():
    specs = [value for value in vars(errors).values() if isinstance(value, errors.ErrorSpec)]
    sent = {spec.code: spec.message for spec in specs if spec.code.startswith("INSTALL_")}
    for spec in (
        errors.ENTERPRISE_INSTALL_UNSUPPORTED,
        errors.SLACK_APP_NOT_CONFIGURED,
        errors.AWS_UNAVAILABLE,
        errors.FEATURE_DISABLED,
        errors.INTERNAL_ERROR,
    ):
        sent[spec.code] = spec.message

    assert _install_errors() == sent
