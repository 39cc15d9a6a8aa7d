import os.path as osp
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def init_cpu_distributed(launcher: str) -> bool:
    """Start the gloo process group for a CPU-only ``pytorch`` launch.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device``, which
    fails on machines without a GPU. On such machines, when launched by
    ``torch.distributed.run`` (``--launcher pytorch``), we initialise the
    process group ourselves (gloo, rank and world size from the launcher's
    environment); mmengine's Runner then finds it initialised and uses it.

    Args:
        launcher (str): The ``--launcher`` value of the tool.

    Returns:
        bool: Whether this call initialised the process group.
    """
    if launcher != 'pytorch' or torch.cuda.is_available() \
            or torch_dist.is_initialized():
        return False
    torch_dist.init_process_group(backend='gloo')
    return True


def finish_distributed() -> None:
    """Wait for every rank, then shut the process group down.

    A gloo process group left open when the interpreter exits can abort a
    rank ("terminate called without an active exception", exit code -6)
    after its work is done; the tools call this when the Runner returns.
    Does nothing when no process group was initialised.
    """
    if torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def load_runner_config(path: str,
                       launcher: str = 'none',
                       cfg_options: Optional[dict] = None,
                       work_dir: Optional[str] = None) -> Config:
    """A config ready for mmengine's ``Runner``, as the train and test tools
    prepare it.

    Loads ``path``, records the launcher (starting the CPU process group,
    :func:`init_cpu_distributed`, with a ``device_ids``-free DDP wrapper
    unless the config names one), merges ``cfg_options`` and sets
    ``work_dir`` (``./work_dirs/<config name>`` when neither the argument
    nor the config gives one).

    Args:
        path (str): The config file.
        launcher (str): The tool's ``--launcher``. Defaults to 'none'.
        cfg_options (dict, optional): ``--cfg-options`` to merge.
        work_dir (str, optional): The tool's ``--work-dir``.

    Returns:
        Config: The config.
    """
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if init_cpu_distributed(launcher) and \
            cfg.get('model_wrapper_cfg') is None:
        # DDP on CPU modules takes no device_ids (mmengine's default passes one)
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(path))[0])
    return cfg
