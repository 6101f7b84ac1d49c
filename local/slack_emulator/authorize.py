"""The page an installer's browser is sent to, Slack's https://slack.com/oauth/v2/authorize, on
loopback: a consent screen (GET) whose form (POST) sends the browser back to the app.

What Slack does and this follows (docs.slack.dev/authentication/installing-with-oauth, read 2026):
the app sends the browser with `client_id`, `scope` (comma-separated bot scopes), `state`, and an
optional `redirect_uri` that must match one configured for the app; approving redirects to it with
`code` and `state`, cancelling with `error=access_denied` and `state`. A `redirect_uri` that
matches nothing is an error page, never a redirect (Slack's text: "redirect_uri did not match any
configured URIs"), so a forged link cannot send a code elsewhere. The emulator knows one
redirect URI per app (add_oauth_app); an app with none accepts the one the link gives.

The code is bound to the `redirect_uri` the link passed, so oauth.v2.access must repeat it
(Slack: it is "required if your app passed it as a parameter" to the authorize step). Everything
echoed into HTML is escaped; the form never trusts its own hidden fields: a POST is checked again.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from local.slack_emulator.oauth import OAuthApp, is_web_url
from local.slack_emulator.state import EmulatorState
from local.slack_emulator.wire import HTML_CONTENT_TYPE, Reply

AUTHORIZE_PATH = "/oauth/v2/authorize"
# A consent screen must not be framed (clickjacking), cached or leak its URL (it carries `state`).
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:38rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
    "button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.75rem}select{font-size:1rem;padding:.25rem}"
)


@dataclass(frozen=True)
class _Request:
    app: OAuthApp
    scopes: tuple[str, ...]
    passed_redirect_uri: str | None  # as the link gave it: the code is bound to it
    redirect_uri: str  # where the browser goes back to
    state: str | None


def answer(state: EmulatorState, verb: str, form: dict[str, str]) -> Reply:
    """GET: the consent page. POST (its form): the redirect back to the app, or an error page."""
    with state.lock:
        request = _check(state, form)
        if isinstance(request, str):
            return error_page(request)
        if verb == "GET":
            return _consent_page(state, request, form.get("team"))
        return _decide(state, request, form)


def error_page(message: str, status: int = 400) -> Reply:
    body = _page(
        "Slack emulator: this install cannot go on",
        f'<h1>This install cannot go on</h1>\n<p role="alert">{html.escape(message)}</p>',
    )
    return Reply(status, body, HTML_CONTENT_TYPE, dict(_PAGE_HEADERS))


def _check(state: EmulatorState, form: dict[str, str]) -> _Request | str:
    """The request the link (or the form) makes, or what is wrong with it."""
    app = state.oauth.apps.get(form.get("client_id") or "")
    if app is None:
        return "Invalid client_id parameter."
    passed = form.get("redirect_uri") or None
    if passed is not None and app.redirect_uri is not None and passed != app.redirect_uri:
        return f"redirect_uri did not match any configured URIs. Passed URI: {passed}"
    target = passed or app.redirect_uri
    if target is None:
        return "No redirect_uri was given, and the app has no redirect URL configured."
    if not is_web_url(target):
        return f"redirect_uri must be an http or https URL. Passed URI: {target}"
    scopes = tuple(scope for scope in re.split(r"[,\s]+", form.get("scope", "")) if scope)
    if not scopes:
        return "Missing scope: the link must ask for at least one bot scope."
    return _Request(app, scopes, passed, target, form.get("state") or None)


def _consent_page(state: EmulatorState, request: _Request, preselected: str | None) -> Reply:
    options = "".join(
        f'<option value="{_attr(team_id)}"{" selected" if team_id == preselected else ""}>'
        f"{html.escape(workspace.name)} ({html.escape(workspace.domain)}.slack.com)</option>"
        for team_id, workspace in state.workspaces.items()
    )
    scopes = "".join(f"<li><code>{html.escape(scope)}</code></li>" for scope in request.scopes)
    hidden = {
        "client_id": request.app.client_id,
        "scope": ",".join(request.scopes),
        "redirect_uri": request.passed_redirect_uri or "",
        "state": request.state or "",
    }
    fields = "".join(f'<input type="hidden" name="{name}" value="{_attr(value)}">' for name, value in hidden.items())
    app_name = html.escape(request.app.app_id)
    body = f"""<h1>App {app_name} is requesting permission to access a Slack workspace</h1>
<form method="post" action="{AUTHORIZE_PATH}">
<p><label for="team">Workspace to install into</label><br>
<select id="team" name="team" required>{options}</select></p>
<h2 id="scopes">What it will be able to do</h2>
<ul aria-labelledby="scopes">{scopes}</ul>
{fields}
<p><button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" formnovalidate>Cancel</button></p>
</form>"""
    page = _page(f"Install app {request.app.app_id} (Slack emulator)", body)
    return Reply(200, page, HTML_CONTENT_TYPE, dict(_PAGE_HEADERS))


def _decide(state: EmulatorState, request: _Request, form: dict[str, str]) -> Reply:
    decision = form.get("decision")
    back: dict[str, str] = {}
    if decision == "deny":
        back["error"] = "access_denied"
    elif decision == "allow":
        team_id = form.get("team") or ""
        if team_id not in state.workspaces:
            return error_page("Choose a workspace of this emulator to install into.")
        app = request.app
        back["code"] = state.issue_oauth_code(
            app.client_id,
            team_id,
            scopes=app.granted_scopes if app.granted_scopes is not None else request.scopes,
            redirect_uri=request.passed_redirect_uri,
            installer_user_id=None,
        )
    else:
        return error_page("The form's decision must be allow or deny.")
    if request.state is not None:
        back["state"] = request.state
    headers = {"Location": _with_query(request.redirect_uri, back), "Cache-Control": "no-store"}
    return Reply(302, b"", HTML_CONTENT_TYPE, headers)


def _with_query(url: str, params: dict[str, str]) -> str:
    """The redirect URI with `params` added to whatever query it already has."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _page(title: str, body: str) -> bytes:
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""
    return page.encode("utf-8")
