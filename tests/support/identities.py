"""Who the suite's fixtures connect: the workspaces, their (obviously fake) bot tokens, the users.

tests/conftest.py re-exports these names, so `from tests.conftest import USER_ID` keeps working.
"""

TEAM_ID = "T0ACME0001"
TEAM_NAME = "Acme Corp"
BOT_TOKEN = "xoxb-test-acme-0001-aaaaaaaaaaaa"
OTHER_TEAM_ID = "T0GLOBEX01"
OTHER_TOKEN = "xoxb-test-globex-0001-bbbbbbbbbbbb"
USER_ID = "user-1"
OTHER_USER = "user-2"
SECRET_PREFIX = "buster/slack/bot-token/"
