"""Buster's Slack messaging: every piece of Slack and storage logic the Lambda functions share.

Modules by role:
- config         the environment, as validated models (the only module that reads it)
- errors         the error taxonomy (machine code, message for a person, retry/reconnect flags)
- slack_errors   Slack's error strings and failures, classified into the taxonomy
- observability  the Logger, Tracer and Metrics every function uses
- models         API bodies, queue bodies and stored rows
- adapters       the only modules that talk to AWS or Slack (repositories, ledger, Slack gateway)
- services       what the product does, one module per job; they talk to AWS and Slack only
                 through the adapters
- http_api       the only place errors become HTTP answers
- queue_policy   the only place errors become queue decisions; queue_consumer applies them
- dependencies   the composition root: builds the services lazily, once per Lambda container
- admin          operator command line (`python -m slack_integration.admin`)
"""
