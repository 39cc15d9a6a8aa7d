"""int8 decoding is a CPU path: weights elsewhere are refused clearly.

The 'meta' device stands in for a GPU: any device that is not the CPU.
"""
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from crrg.models.decoding import GPT2Decoder, PackedLinear


def _lm(device):
    lm = GPT2LMHeadModel(
        GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1,
                   n_head=2))
    return lm.to(device)


def test_decoder_refuses_int8_off_the_cpu():
    with pytest.raises(ValueError, match='CPU only.*meta.*fp32'):
        GPT2Decoder(_lm('meta'), 'int8')
    # fp32 / bf16 are not refused for the device, and int8 on the CPU builds
    GPT2Decoder(_lm('meta'), 'fp32')
    assert GPT2Decoder(_lm('cpu'), 'int8', native=False).precision == 'int8'


def test_packed_linear_refuses_int8_off_the_cpu():
    weight = torch.randn(4, 8, device='meta')
    with pytest.raises(ValueError, match='CPU path.*meta'):
        PackedLinear(weight, None, 'int8', transposed=False)
    PackedLinear(weight, None, 'fp32', transposed=False)
    PackedLinear(torch.randn(4, 8), None, 'int8', transposed=False)
