"""Dev-only stand-ins for the services the project talks to (never deployed with the Lambda bundle)."""
