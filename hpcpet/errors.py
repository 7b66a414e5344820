"""Exceptions that hpcpet raises for problems the user can fix."""


class HpcpetError(Exception):
    """A problem with the user's input; the CLI prints it as one line, no traceback."""


class InvalidNameError(HpcpetError):
    """An invalid parameter or result name."""


class ExplorationError(HpcpetError):
    """An exploration that does not fit the trajectory's parameters."""


class FileFormatError(HpcpetError):
    """A file that is not an hpcpet file, or is damaged."""
