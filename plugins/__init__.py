"""Department plugins: the hook specification, the loader and the built-in departments."""

from plugins.hookspecs import hookimpl

__all__ = ["hookimpl"]
