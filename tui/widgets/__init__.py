"""Widgets of the operator console; each takes its data as attributes and posts messages up."""
