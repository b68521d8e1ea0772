"""The built-in departments, registered through the same entry points as third-party ones."""
