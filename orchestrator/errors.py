"""Errors a user can act on. The CLI prints their message and exits non-zero."""


class CrossdeskError(Exception):
    """Base for errors that reach the user. The message says what went wrong and what to do."""

    exit_code = 2


class InputError(CrossdeskError):
    """The user's input (message, file, argument) is unusable."""


class NotFoundError(CrossdeskError):
    """A named thing (customer, conversation, trace, article) does not exist."""

    exit_code = 3


class BusyError(CrossdeskError):
    """Something the request needs is held by another turn for too long; trying again later helps."""

    exit_code = 4
