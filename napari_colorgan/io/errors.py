"""Errors the io package raises for what it finds in files."""


class DamagedFileError(ValueError):
    """An input file or store whose data cannot be read as they claim to be.

    Raised while chunks are read, possibly in the middle of a run: a sink that
    created its output in that run removes it, so nothing is left that does not
    belong to a whole input.
    """
