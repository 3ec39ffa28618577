"""The training library under the commands."""
