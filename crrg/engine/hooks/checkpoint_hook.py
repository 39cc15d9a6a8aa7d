"""Checkpoints that survive a kill, and carry the random state for resuming.

mmengine 0.10.7's ``CheckpointHook`` deletes the oldest checkpoint before it
writes the new one, writes it in place and then points ``last_checkpoint``
at it, so a run killed while saving with ``max_keep_ckpts=1`` loses
everything. It also saves no random state, so a resumed run draws other
augmentations, dropout masks and batch orders than the uninterrupted run.
"""
import glob
import logging
import os
import os.path as osp
import random
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.dist import is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from crrg.registry import HOOKS

# importing crrg.utils registers the types mmengine's checkpoints hold with
# torch's safe loader, which resuming needs
from crrg.utils import checkpoint as _safe_globals  # noqa: F401

_TMP_SUFFIX = '.tmp'


def get_rng_state() -> Dict:
    """This process's Python, numpy and torch (CPU and CUDA) random states.

    Stored as plain Python values and tensors, so that torch's
    ``weights_only`` loader reads them back.
    """
    np_state = np.random.get_state(legacy=False)
    state = dict(
        python=random.getstate(),
        numpy=dict(
            bit_generator=np_state['bit_generator'],
            key=np_state['state']['key'].tolist(),
            pos=int(np_state['state']['pos']),
            has_gauss=int(np_state['has_gauss']),
            gauss=float(np_state['gauss'])),
        torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    np_state = state['numpy']
    np.random.set_state(
        dict(
            bit_generator=np_state['bit_generator'],
            state=dict(
                key=np.asarray(np_state['key'], dtype=np.uint32),
                pos=np_state['pos']),
            has_gauss=np_state['has_gauss'],
            gauss=np_state['gauss']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook``, crash-safe and exactly resumable.

    Same arguments and file names as :class:`mmengine.hooks.CheckpointHook`.
    On a local ``out_dir``:

    - a checkpoint is written to ``.<name>.tmp`` next to its final name and
      renamed (``os.replace``, atomic) only once complete and synced;
    - ``last_checkpoint`` is then replaced the same way, so it always names a
      complete file;
    - only after that are checkpoints beyond ``max_keep_ckpts`` (and a
      superseded best checkpoint) removed, so a kill at any moment leaves
      the previous checkpoint in place. Temporary files of an interrupted
      save are removed (and logged) when training starts.

    Every checkpoint also stores ``rng_state``: each rank's Python, numpy
    and torch random states and the train sampler's seed, taken when the
    training epoch (or iteration) ends. On ``--resume`` they are restored
    before training continues. Validation leaves the training random
    streams as it found them (restored after each validation), so a run
    killed at any point and resumed from its last checkpoint repeats the
    uninterrupted run. Exact repetition also needs the same number of
    processes, a fixed ``randomness.seed`` (the default runtime sets 0),
    an epoch-based loop and no persistent data-loader workers (a resumed
    worker starts from its seed); otherwise a warning says what differs.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._rng_for_save: Optional[List[Dict]] = None
        self._rng_before_val: Optional[Dict] = None
        self._rng_to_restore: Optional[Dict] = None
        self._loaded = False
        self._local = False

    # -- random state ------------------------------------------------------
    def _gather_rng_state(self, runner) -> None:
        """Collect every rank's state now (all ranks call the save path)."""
        state = self._rng_before_val or get_rng_state()
        self._rng_for_save = all_gather_object(state)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._rng_for_save is None:
            return
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        checkpoint['rng_state'] = dict(
            ranks=self._rng_for_save,
            sampler_seed=getattr(sampler, 'seed', None))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # applied in before_train, once it is known whether this is a resume
        self._loaded = True
        self._rng_to_restore = checkpoint.get('rng_state')

    def _restore_rng_state(self, runner) -> None:
        saved, self._rng_to_restore = self._rng_to_restore, None
        ranks = saved['ranks']
        if len(ranks) != get_world_size():
            print_log(
                f'The checkpoint was written by {len(ranks)} processes and '
                f'training resumes with {get_world_size()}: random states '
                'are not restored, the run will not repeat the original.',
                'current', logging.WARNING)
            return
        set_rng_state(ranks[get_rank()])
        sampler = getattr(runner.train_dataloader, 'sampler', None)
        if saved.get('sampler_seed') is not None and hasattr(sampler, 'seed'):
            sampler.seed = saved['sampler_seed']
        if not self.by_epoch:
            print_log(
                'Iteration-based checkpoints: the resumed loop replays the '
                'data pipeline up to the checkpoint, which draws from the '
                'restored random state, so augmentations after the resume '
                'differ from the uninterrupted run (epoch-based loops repeat '
                'it exactly).', 'current', logging.WARNING)
        loader = runner.train_dataloader
        if getattr(loader, 'num_workers', 0) and getattr(
                loader, 'persistent_workers', False):
            print_log(
                'persistent_workers=True: the resumed data-loader workers '
                'start from their seeds, so the augmentations differ from '
                'the uninterrupted run; set persistent_workers=False for an '
                'exact resume.', 'current', logging.WARNING)
        print_log(f'Restored the random state of epoch {runner.epoch}, '
                  f'iteration {runner.iter}.', 'current')

    def before_val(self, runner) -> None:
        self._rng_before_val = get_rng_state()

    def after_val(self, runner) -> None:
        if self._rng_before_val is not None:
            set_rng_state(self._rng_before_val)
        self._rng_before_val = None

    # -- saving ------------------------------------------------------------
    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._local = isinstance(self.file_backend, LocalBackend)
        if is_main_process() and self._local:
            pattern = osp.join(glob.escape(self.out_dir), f'.*{_TMP_SUFFIX}')
            for leftover in sorted(glob.glob(pattern)):
                os.remove(leftover)
                print_log(f'Removed {leftover}, a partial checkpoint of an '
                          'interrupted save.', 'current', logging.WARNING)
        resumed = self._loaded and (runner.epoch or runner.iter)
        if resumed and self._rng_to_restore is None:
            print_log(
                'The resumed checkpoint holds no random state (written '
                'without AtomicCheckpointHook): the run will not repeat the '
                'uninterrupted one exactly.', 'current', logging.WARNING)
        elif resumed:
            self._restore_rng_state(runner)
        self._rng_to_restore = None

    def _write(self, runner, filename: str, *args, **kwargs) -> None:
        """``runner.save_checkpoint`` into ``out_dir`` via a synced temporary
        file renamed to ``filename`` once complete."""
        temporary = f'.{filename}{_TMP_SUFFIX}'
        # the class's method: _save_best_checkpoint redirects the instance's
        type(runner).save_checkpoint(runner, self.out_dir, temporary, *args,
                                     **kwargs)
        if is_main_process():
            _fsync(osp.join(self.out_dir, temporary))
            os.replace(osp.join(self.out_dir, temporary),
                       osp.join(self.out_dir, filename))
            _fsync(self.out_dir)

    def _save_checkpoint_with_step(self, runner, step, meta):
        self._gather_rng_state(runner)
        if not self._local:
            # remote storage has no atomic rename: mmengine's own order
            super()._save_checkpoint_with_step(runner, step, meta)
            self._rng_for_save = None
            return
        dropped = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                dropped.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        self._write(
            runner, filename, self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        self._rng_for_save = None
        if not is_main_process():
            return
        pointer = osp.join(runner.work_dir, 'last_checkpoint')
        with open(pointer + _TMP_SUFFIX, 'w') as f:
            f.write(self.last_ckpt)
            f.flush()
            os.fsync(f.fileno())
        os.replace(pointer + _TMP_SUFFIX, pointer)
        for old in dropped:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """mmengine's best-checkpoint logic; the new best is written
        atomically and the previous best removed only afterwards."""
        if not self.save_best or not self._local:
            return super()._save_best_checkpoint(runner, metrics)
        backend, removed = self.file_backend, []
        self.file_backend = _DeferredRemoval(backend, removed)
        runner.save_checkpoint = (
            lambda out_dir, filename, *args, **kwargs: self._write(
                runner, filename, *args, **kwargs))
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
            del runner.save_checkpoint  # back to the class's method
        if is_main_process():
            for path in removed:
                if osp.isfile(path):
                    os.remove(path)


class _DeferredRemoval:
    """A file backend whose ``remove`` only records the path."""

    def __init__(self, backend, removed: list) -> None:
        self._backend = backend
        self._removed = removed

    def remove(self, path) -> None:
        self._removed.append(str(path))

    def __getattr__(self, name):
        return getattr(self._backend, name)


def _fsync(path: str) -> None:
    """Flush a file's (or a folder's entries') data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
