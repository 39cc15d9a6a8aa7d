"""Errors crrg raises on bad input, importable without loading any dataset."""


class DataFormatError(ValueError):
    """A data file lacks a field or holds a value crrg cannot use.

    The message names the file, the record and the field.
    """
