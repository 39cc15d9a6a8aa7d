"""Fast autoregressive decoding of GPT-2 region heads on CPUs.

:class:`GPT2Decoder` runs a GPT-2 with a static KV cache in fp32, bf16 or int8;
int8 steps go through one compiled call per step (``csrc/``), built on first
use by :func:`native_int8_ops`.
"""
from .fast_gpt2 import (PRECISIONS, GPT2Decoder, PackedLinear, native_int8_ops,
                        quantize_int8)

__all__ = [
    'PRECISIONS', 'GPT2Decoder', 'PackedLinear', 'native_int8_ops',
    'quantize_int8'
]
