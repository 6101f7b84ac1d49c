"""Buster's Slack messaging: every piece of Slack and storage logic the Lambda functions share.

Modules by role:
- config         the environment, as one validated model
- errors         the error taxonomy (machine code, message for a person, retry/reconnect flags)
- observability  the Logger, Tracer and Metrics every function uses
- models         API bodies and stored rows
- adapters       boto3 and Slack clients, the token store, repositories
- services       what the product does (channels; later messaging, health, stats)
- http_api       the only place errors become HTTP answers
- dependencies   builds the services lazily, once per Lambda container
- admin          operator command line (`python -m slack_integration.admin`)
"""
