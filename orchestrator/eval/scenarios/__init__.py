"""End-to-end scenarios: conversations with their expected outcome, run on the demo fintech.

The shipped set lives next to this file as YAML (`*.yaml`); `crossdesk eval scenarios`
runs it (or your own files) on a fresh temporary database and reports first-contact
resolution, transfers, escalation precision and recall, policy violations and context
lost across turns. The format is in docs/evaluation.md ("Scenarios").
"""

from orchestrator.eval.scenarios.schema import DEFAULT_DIR, Scenario, load_scenarios

__all__ = ["DEFAULT_DIR", "Scenario", "load_scenarios"]
