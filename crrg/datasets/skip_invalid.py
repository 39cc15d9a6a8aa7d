"""Undecodable images at training time: skipped and counted, or named."""
import logging

from mmengine.logging import print_log

from crrg.utils import ImageDecodeError


class SkipInvalidImagesMixin:
    """Handle :class:`~crrg.utils.ImageDecodeError` raised by the pipeline.

    Put it before the dataset base class
    (``class XDataset(SkipInvalidImagesMixin, BaseDataset)``); the dataset
    keeps its ``skip_invalid`` attribute. A sample whose image cannot be
    decoded (an empty, truncated or unreadable file, an image below the
    loader's minimum size, ...):

    - ``skip_invalid=True`` in training: is counted in
      ``num_skipped_images``, logged with the file and the reason, and
      ``prepare_data`` returns None, so mmengine's ``BaseDataset`` draws
      another sample (up to ``max_refetch`` times);
    - otherwise, and always in test mode (where a skipped sample would
      silently change what is evaluated): re-raised as ``ImageDecodeError``
      naming the file, the dataset and what to do.

    With ``num_workers > 0`` each worker process counts its own skips (the
    log lines come from every worker).
    """

    #: images skipped by this process (under ``skip_invalid=True``)
    num_skipped_images: int = 0

    def prepare_data(self, idx: int):
        try:
            return super().prepare_data(idx)
        except ImageDecodeError as err:
            name = type(self).__name__
            split = getattr(self, 'split', None)
            where = f'{name}' + (f' ({split})' if split else '')
            if self.test_mode or not getattr(self, 'skip_invalid', False):
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
