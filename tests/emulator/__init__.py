"""Tests of the local Slack Web API emulator."""
