"""Everything that talks to something outside the process: AWS, Slack, Secrets Manager."""
