"""crossdesk orchestrator: the supervisor graph, the offline NLU, the stores and the CLI."""

__version__ = "0.1.0"
