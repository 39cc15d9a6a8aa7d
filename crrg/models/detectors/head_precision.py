"""Low-precision weights for the heavy layers of a detector's heads, at
inference.

A two-stage detector's RPN convolution and RoI box head can outweigh its
backbone: RGRG's box head is one 131,072 -> 1,024 fully connected layer
applied to 1,000 proposals per image (~268 GFLOP, ten times its ResNet-50
C5). :func:`low_precision_layers` runs chosen ``nn.Linear`` / ``nn.Conv2d``
layers from a copy of their weights packed once in bf16 (oneDNN through
torch) or int8 (fbgemm's dynamic per-row quantised GEMM, the decoder's
:class:`~crrg.models.decoding.PackedLinear`), with fp32 inputs and outputs,
while the module keeps its fp32 parameters.
"""
from contextlib import contextmanager
from typing import Iterator, List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crrg.models.decoding import PackedLinear

#: precisions of :func:`low_precision_layers`
HEAD_PRECISIONS = ('fp32', 'bf16', 'int8')
#: prediction layers kept in fp32: their outputs are scores and box deltas
PREDICTION_LAYERS = ('fc_cls', 'fc_reg', 'rpn_cls', 'rpn_reg', 'cls_logits',
                     'bbox_pred')


def native_bf16() -> bool:
    """Whether this CPU has native bf16 dot products (oneDNN's test:
    AVX512-BF16 or AMX); without them bf16 GEMMs are emulated and slower
    than fp32, and the int8 path is the fast one."""
    return bool(torch.backends.mkldnn.is_available()
                and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def heavy_layers(head: nn.Module) -> List[nn.Module]:
    """The layers of ``head`` worth packing: every ``nn.Linear`` and every
    ``nn.Conv2d`` with a kernel larger than 1 x 1, except the prediction
    layers (:data:`PREDICTION_LAYERS`), whose small outputs decide scores
    and boxes."""
    layers = []
    for name, module in head.named_modules():
        if name.rsplit('.', 1)[-1] in PREDICTION_LAYERS:
            continue
        if isinstance(module, nn.Linear) or (
                isinstance(module, nn.Conv2d)
                and max(module.kernel_size) > 1):
            layers.append(module)
    return layers


def _packed(layer: nn.Module, precision: str):
    """``layer``'s weights packed in ``precision``, cached on the layer and
    packed again when its weight changes (another tensor, or written in
    place, e.g. by ``load_state_dict``)."""
    key = (precision, layer.weight.data_ptr(), layer.weight._version)
    cached = getattr(layer, '_crrg_packed', None)
    if cached is not None and cached[0] == key:
        return cached[1]
    if isinstance(layer, nn.Linear):
        packed = PackedLinear(layer.weight, layer.bias, precision,
                              transposed=False)
    else:
        packed = layer.weight.detach().to(torch.bfloat16)
    layer._crrg_packed = (key, packed)
    return packed


def _conv_bf16(layer: nn.Conv2d, x: Tensor) -> Tensor:
    """``layer(x)`` from bf16 weights: (B, C, H, W) fp32 -> fp32, the bias
    added in fp32."""
    out = F.conv2d(x.to(torch.bfloat16), _packed(layer, 'bf16'), None,
                   layer.stride, layer.padding, layer.dilation,
                   layer.groups).float()
    if layer.bias is not None:
        out = out + layer.bias.view(1, -1, 1, 1)
    return out


@contextmanager
def low_precision_layers(layers: List[nn.Module],
                         precision: str) -> Iterator[None]:
    """Run ``layers`` from packed low-precision weights inside the block.

    ``nn.Linear``: bf16 or int8 weights (int8: per-output-channel symmetric
    weights, activations quantised per row at each call). ``nn.Conv2d``:
    bf16 weights; in ``'int8'`` a convolution stays fp32 (torch has no
    dynamic int8 convolution). Inputs and outputs stay fp32. The packed
    weights are kept on each layer for later calls; the layers' parameters
    are not changed. No gradient flows through the packed layers.

    Args:
        layers (list[nn.Module]): ``nn.Linear`` / ``nn.Conv2d`` layers, e.g.
            :func:`heavy_layers` of a head.
        precision (str): One of :data:`HEAD_PRECISIONS`; ``'fp32'`` changes
            nothing (gradients flow as outside the block).
    """
    if precision not in HEAD_PRECISIONS:
        raise ValueError(f'precision must be one of {HEAD_PRECISIONS}, got '
                         f'{precision!r}')
    if precision == 'fp32':
        yield
        return
    swapped = []
    for layer in layers:
        if isinstance(layer, nn.Linear):
            packed = _packed(layer, precision)
            layer.forward = (lambda x, p=packed: p(
                x.reshape(-1, x.size(-1))).view(*x.shape[:-1], -1))
        elif precision == 'bf16':
            layer.forward = (lambda x, m=layer: _conv_bf16(m, x))
        else:
            continue
        swapped.append(layer)
    try:
        with torch.no_grad():
            yield
    finally:
        for layer in swapped:
            del layer.forward
