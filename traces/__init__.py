"""OpenTelemetry for crossdesk: set-up, span helpers, metrics, and the local span store."""
