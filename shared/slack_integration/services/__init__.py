"""What the product does, written against the adapters."""
