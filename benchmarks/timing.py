"""Timing shared by the benchmarks: interleaved rounds, minimum, the machine.

Every benchmark here runs its contenders in turn, once per round, and
reports each contender's minimum over the rounds: the machine may be shared
and noisy, and the minimum is the run least disturbed, while interleaving
puts every contender through the same noise. Each run starts with
:func:`machine_header` (date, CPU, its AVX2 / AVX-512 / VNNI / AMX features,
torch's thread count), so that a table can be traced to what produced it.
"""
import datetime
import os
import platform
import time
from typing import Callable, Dict, Optional

import torch
from mmengine.logging import print_log

# /proc/cpuinfo flags -> the names the tables use
FEATURES = {
    'avx2': 'AVX2',
    'avx512f': 'AVX-512',
    'avx512_vnni': 'AVX512-VNNI',
    'avx_vnni': 'AVX-VNNI',
    'avx512_bf16': 'AVX512-BF16',
    'amx_tile': 'AMX',
}
# variables that change which instructions a library runs
ISA_VARIABLES = ('CRRG_FORCE_CPU_ISA', 'CT2_FORCE_CPU_ISA',
                 'ONEDNN_MAX_CPU_ISA', 'FBGEMM_ENABLE_INSTRUCTIONS',
                 'ATEN_CPU_CAPABILITY', 'OMP_NUM_THREADS')


def log(msg: str) -> None:
    print_log(msg, logger='current')


def interleaved(contenders: Dict[str, Callable],
                repeats: int,
                warm_up: bool = True,
                pause: float = 0.) -> Dict[str, float]:
    """Minimum wall time per contender, the contenders run in turn.

    Args:
        contenders (dict[str, Callable]): Name -> call without arguments.
        repeats (int): Rounds; each round runs every contender once.
        warm_up (bool): Run each contender once before the timed rounds.
        pause (float): Seconds to sleep, untimed, before each contender: lets
            the threads of the previous one's OpenMP runtime stop spinning
            (libraries that bring their own runtime, e.g. CTranslate2's).

    Returns:
        dict[str, float]: Name -> minimum over the rounds, in seconds.
    """
    for fn in contenders.values() if warm_up else ():
        fn()
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            time.sleep(pause)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def best_of(fn: Callable, repeats: int) -> float:
    """Minimum wall time of ``repeats`` calls after one warm-up, seconds."""
    return interleaved({'fn': fn}, repeats)['fn']


def cpu_features() -> Dict[str, bool]:
    """Which of :data:`FEATURES` the CPU has (Linux ``/proc/cpuinfo``; all
    False elsewhere)."""
    flags = set()
    if os.path.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    flags = set(line.split(':', 1)[1].split())
                    break
    return {name: flag in flags for flag, name in FEATURES.items()}


def cpu_name() -> str:
    if os.path.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_header(threads: Optional[int] = None) -> str:
    """One line: UTC date, CPU, its features, cores, torch and its threads,
    and any variable of :data:`ISA_VARIABLES` that is set."""
    features = cpu_features()
    has = ', '.join(n for n, on in features.items() if on) or 'none of them'
    lacks = ', '.join(n for n, on in features.items() if not on)
    date = datetime.datetime.now(datetime.timezone.utc)
    env = ' '.join(f'{k}={os.environ[k]}' for k in ISA_VARIABLES
                   if k in os.environ)
    return (f'{date:%Y-%m-%d %H:%M} UTC | {cpu_name()}, {os.cpu_count()} '
            f'CPUs | has {has}' + (f'; lacks {lacks}' if lacks else '') +
            f' | torch {torch.__version__} (CPU capability '
            f'{torch.backends.cpu.get_cpu_capability()}), '
            f'{threads or torch.get_num_threads()} threads' +
            (f' | {env}' if env else ''))


def set_threads(threads: Optional[int]) -> None:
    """torch's intra-op threads (None: leave torch's default)."""
    if threads:
        torch.set_num_threads(threads)


def read_bandwidth(gib: float = 1.) -> Callable[[], float]:
    """A probe of the memory read bandwidth: the returned call sums a
    ``gib`` GiB fp32 tensor (on torch's threads) and returns the bytes read,
    so bandwidth = bytes / its time."""
    big = torch.ones(int(gib * 256 * 1024 * 1024))

    def probe() -> float:
        big.sum()
        return big.numel() * 4.
    return probe


def machine_cpu_seconds() -> Optional[float]:
    """CPU seconds the whole machine has used (all but idle and iowait),
    or None off Linux (no ``/proc/stat``)."""
    if not os.path.isfile('/proc/stat'):
        return None
    with open('/proc/stat') as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf('SC_CLK_TCK')


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended
    (e.g. decoding workers, replicas)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Watched:
    """A contender that notes, per call, its wall time, the cores it kept
    busy (its own and its ended children's CPU seconds per second) and the
    cores the machine's other processes used meanwhile: on a shared machine
    a second thread only helps while a core is free."""

    def __init__(self, fn: Callable, warm_up: bool = True) -> None:
        """``warm_up``: the first call is :func:`interleaved`'s warm-up, left
        out of :meth:`cores` and :meth:`others`."""
        self.fn, self.runs, self.warm_up = fn, [], warm_up

    def __call__(self) -> None:
        machine, own = machine_cpu_seconds(), own_cpu_seconds()
        start = time.perf_counter()
        self.fn()
        wall = time.perf_counter() - start
        own = own_cpu_seconds() - own
        others = None if machine is None else (
            machine_cpu_seconds() - machine - own) / wall
        self.runs.append((wall, own / wall, others))

    def _timed(self) -> list:
        """The calls after the warm-up."""
        return self.runs[1:] if self.warm_up and len(self.runs) > 1 else \
            self.runs

    def others(self) -> str:
        """The other processes' cores during the fastest call after the
        warm-up."""
        others = min(self._timed())[2]
        return 'n/a' if others is None else f'{max(others, 0.):.2f}'

    def cores(self) -> str:
        """``busy / others`` cores during the fastest call after the
        warm-up."""
        busy = min(self._timed())[1]
        return f'{busy:.2f} / {self.others()}'
