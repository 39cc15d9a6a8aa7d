"""Errors crrg raises on bad input, importable without loading any dataset."""


class DataFormatError(ValueError):
    """A data file lacks a field or holds a value crrg cannot use.

    The message names the file, the record and the field.
    """


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's weights do not match the model's parameters.

    The message summarises the missing and unexpected keys and says how to
    load anyway (``--allow-partial``).
    """
