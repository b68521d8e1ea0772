"""Jurisdiction policies: rule packs, the policy engine, personal-data masking and the audit log.

Submodules are imported on demand; `policies.pii` stays light so tracing can use it at start-up.
"""
