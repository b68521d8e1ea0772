"""Measure crossdesk on labelled data: routing, multi-issue messages and knowledge retrieval.

The `crossdesk eval` and `crossdesk train` commands are thin wrappers over these
modules; import cost stays low (heavy libraries load inside the functions).
"""
