"""What every crrg dataset shares: the split, bad input skipped and counted,
one line of counts.

Each dataset keeps only what reads its format; the rest is
:class:`XrayDatasetMixin`.
"""
import logging
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from mmengine.logging import print_log

from crrg.utils import DataFormatError, ImageDecodeError

#: how many skipped records a log line or an error names
_SHOWN = 5


class XrayDatasetMixin:
    """Split selection, ``skip_invalid`` and count logging of crrg's datasets.

    Put it before the mmengine / mmdet base class
    (``class XDataset(XrayDatasetMixin, BaseDataset)``) and call
    :meth:`select_split` in ``__init__`` before the base class's
    ``__init__`` (which loads the data list). Then, in ``load_data_list``:

    - :meth:`parse_or_skip` reads each record with the dataset's own parser.
      A record whose parser raises ``DataFormatError`` or
      ``FileNotFoundError`` (a missing file, a bad field) raises, or with
      ``skip_invalid=True`` is skipped, counted in ``num_skipped`` and
      logged (the first few reasons, as one warning);
    - :meth:`log_counts` logs one line of the split's counts next to the
      split's published size (``PUBLISHED_SIZES``), keeps them in
      ``split_counts``, and raises ``DataFormatError`` when no record is
      left.

    An image the pipeline cannot decode (:class:`~crrg.utils.ImageDecodeError`:
    an empty, truncated or unreadable file, an image below the loader's
    minimum size, ...):

    - with ``skip_invalid=True`` in training: is counted in
      ``num_skipped_images``, logged with the file and the reason, and
      ``prepare_data`` returns None, so mmengine's ``BaseDataset`` draws
      another sample (up to ``max_refetch`` times);
    - otherwise, and always in test mode (where a skipped sample would
      silently change what is evaluated): re-raised as ``ImageDecodeError``
      naming the file, the dataset and what to do.

    With ``num_workers > 0`` each worker process counts its own image skips
    (the log lines come from every worker).
    """

    #: the split names the dataset accepts
    SPLITS: Sequence[str] = ('train', 'val', 'test')
    #: other spellings of a split name -> its name in ``SPLITS``
    SPLIT_ALIASES: Dict[str, str] = {}
    #: split -> size its authors published, logged beside the kept count
    PUBLISHED_SIZES: Dict[str, int] = {}
    #: what one record of the split is, for messages (singular, plural)
    RECORD_NAMES: Tuple[str, str] = ('entry', 'entries')

    #: records skipped as bad input while loading (``skip_invalid=True``)
    num_skipped: int = 0
    #: images skipped by this process in training (``skip_invalid=True``)
    num_skipped_images: int = 0

    def select_split(self,
                     split: str,
                     skip_invalid: bool,
                     splits: Optional[Sequence[str]] = None,
                     condition: str = '') -> None:
        """Set ``split`` (aliases resolved) and ``skip_invalid``.

        Args:
            split (str): The split name, or an alias of it
                (``SPLIT_ALIASES``).
            skip_invalid (bool): Skip bad input instead of raising.
            splits (Sequence[str], optional): The names allowed here, when
                they depend on other arguments. Defaults to ``SPLITS``.
            condition (str): Says when ``splits`` applies, for the error
                (e.g. ``" with split_protocol='mimic'"``).

        Raises:
            ValueError: ``split`` is not one of the allowed names.
        """
        split = self.SPLIT_ALIASES.get(split, split)
        splits = tuple(self.SPLITS if splits is None else splits)
        if split not in splits:
            raise ValueError(f'{type(self).__name__}: split must be one of '
                             f'{splits}{condition}, got {split!r}')
        self.split = split
        self.skip_invalid = skip_invalid
        self.num_skipped = 0
        self.skip_reasons: List[str] = []

    @property
    def log_prefix(self) -> str:
        """``'ClassName (split)'``: how log lines and errors name the data."""
        return f'{type(self).__name__} ({self.split})'

    def parse_or_skip(self, records: Sequence,
                      parse: Callable[..., dict]) -> List[dict]:
        """Parse each record; skip, count and log bad ones under skip_invalid.

        Args:
            records (Sequence): The split's records, in order.
            parse (Callable): Reads one record into a data info; raises
                ``DataFormatError`` or ``FileNotFoundError`` naming the
                file, the record and the field.

        Returns:
            list[dict]: The parsed data infos, in the records' order. The
            skipped records' reasons are in ``skip_reasons``, their number
            in ``num_skipped``.
        """
        parsed, skipped = [], []
        for record in records:
            try:
                parsed.append(parse(record))
            except (DataFormatError, FileNotFoundError) as err:
                if not self.skip_invalid:
                    raise
                skipped.append(str(err))
        self.num_skipped = len(skipped)
        self.skip_reasons = skipped
        if skipped:
            print_log(
                f'{self.log_prefix}: skipped {len(skipped):,} of '
                f'{len(records):,} {self.RECORD_NAMES[1]} as bad input:\n  ' +
                '\n  '.join(skipped[:_SHOWN]) +
                ('\n  ...' if len(skipped) > _SHOWN else ''), 'current',
                logging.WARNING)
        return parsed

    def published_sizes(self) -> Dict[str, int]:
        """The published size of this split (``PUBLISHED_SIZES``), if any."""
        if self.split in self.PUBLISHED_SIZES:
            return {self.split: self.PUBLISHED_SIZES[self.split]}
        return {}

    def log_counts(self,
                   counts: Dict[str, int],
                   note: str = '',
                   empty_hint: str = '') -> None:
        """Log the split's counts in one line; raise if nothing is kept.

        Args:
            counts (dict[str, int]): Ordered counts (``listed``,
                ``skipped``, ..., ``kept``); kept in ``split_counts``.
            note (str): Appended to the line (e.g. the reference style).
            empty_hint (str): What to check when ``kept`` is 0.

        Raises:
            DataFormatError: ``counts['kept']`` is 0; the message names the
                split, its counts, what to check and the first skip reason.
        """
        self.split_counts = dict(counts)
        summary = ', '.join(f'{k} {v:,}' for k, v in counts.items())
        published = ' / '.join(
            f'{k} {v:,}' for k, v in self.published_sizes().items())
        print_log(
            f'{self.log_prefix}: {summary}' +
            (f' (published: {published})' if published else '') +
            (f'; {note}' if note else ''), 'current')
        if counts['kept']:
            return
        raise DataFormatError(
            f'{self.log_prefix}: no usable {self.RECORD_NAMES[0]} in split '
            f'{self.split!r} ({summary})' +
            (f'; {empty_hint}' if empty_hint else '') +
            (f'; first problem: {self.skip_reasons[0]}'
             if self.skip_reasons else ''))

    def prepare_data(self, idx: int):
        """The pipeline's output for sample ``idx``; None when it is skipped.

        Raises:
            ImageDecodeError: The image cannot be decoded, in test mode or
                without ``skip_invalid``; the message names the file, the
                dataset, the sample and what to do.
        """
        try:
            return super().prepare_data(idx)
        except ImageDecodeError as err:
            where = self.log_prefix
            if self.test_mode or not self.skip_invalid:
                advice = ('test mode never skips a sample: repair or remove '
                          'the image' if self.test_mode else
                          'repair or remove the image, or set '
                          'skip_invalid=True to skip such images in training')
                raise ImageDecodeError(f'{err} [{where}, sample {idx}; '
                                       f'{advice}]') from err
            self.num_skipped_images += 1
            print_log(
                f'{where}: skipped sample {idx}: {err} '
                f'({self.num_skipped_images} undecodable image(s) skipped '
                'so far by this process)', 'current', logging.WARNING)
            return None

