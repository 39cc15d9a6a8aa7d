from typing import Sequence


def missing_checkpoint_error(owner: str, name: str, expected_files: Sequence[str],
                             err: Exception) -> FileNotFoundError:
    """The error raised when a Hugging Face checkpoint cannot be loaded offline.

    Args:
        owner (str): The component that loads it, e.g. ``'HFTextEncoder'``.
        name (str): The hub name or local directory that failed.
        expected_files (Sequence[str]): The files such a directory holds.
        err (Exception): The transformers error.
    """
    return FileNotFoundError(
        f'{owner}: cannot load "{name}" ({err}). Expected files: '
        f'{", ".join(expected_files)}. crrg never downloads at run time: '
        'download them on a machine with network (e.g. `huggingface-cli '
        f'download {name} --local-dir <dir>`) and set the config field to '
        'that local directory, or place them in the Hugging Face cache '
        '(HF_HOME) and run with HF_HUB_OFFLINE=1.')
