import torch
import torch.distributed as torch_dist


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
