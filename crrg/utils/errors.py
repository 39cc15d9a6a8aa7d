"""Errors crrg raises on bad input, importable without loading any dataset."""
from typing import Any, Collection, Optional


def check_choice(value: Any,
                 choices: Collection,
                 name: str,
                 owner: Optional[str] = None) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``.

    The message reads ``'{owner}: {name} must be one of {choices}, got
    {value!r}'`` (without ``'{owner}: '`` when no owner is given).

    Args:
        value: The value given.
        choices (Collection): The values allowed, shown as they print.
        name (str): What the value is, e.g. the argument's name.
        owner (str, optional): Who checks it, e.g. the class's name.
    """
    if value not in choices:
        where = f'{owner}: ' if owner else ''
        raise ValueError(
            f'{where}{name} must be one of {choices}, got {value!r}')


class DataFormatError(ValueError):
    """A data file lacks a field or holds a value crrg cannot use.

    The message names the file, the record and the field.
    """


class ImageDecodeError(DataFormatError):
    """An image file cannot be turned into pixels crrg can use.

    Raised by :class:`crrg.datasets.transforms.LoadXrayImageFromFile` for a
    missing, empty, truncated or undecodable file, an unsupported DICOM and
    an image below the minimum size. The message names the file and the
    reason. Datasets skip and count such images under ``skip_invalid=True``.
    """


class CheckpointMismatchError(RuntimeError):
    """A checkpoint's weights do not fit the model it is loaded into.

    The message summarises the missing, unexpected and shape-mismatched
    keys and says how to load the matching part anyway.
    """
