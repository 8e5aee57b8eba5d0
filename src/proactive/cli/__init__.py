"""The `proactive` command: one typer app, one sub-app per room (each in its own module)."""
