# Stage 2 of RRG-opt with mixed precision on GPUs: fp16 autocast with
# dynamic loss scaling (mmcv's CUDA RoIAlign has no bf16 kernel), on the
# detector of faster-rcnn_r50_fpn_amp-opt_imagenome.py. The frozen detector
# runs in plain fp32 weights under the autocast: its CPU fast path (bf16
# backbone, channels-last) stays off.
_base_ = './rrg-selector_r50_fpn_opt_imagenome.py'
model = dict(
    detector=dict(inference_precision='fp32', channels_last=False),
    detector_checkpoint='work_dirs/faster-rcnn_r50_fpn_amp-opt_imagenome/'
    'epoch_10.pth')
optim_wrapper = dict(
    type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
# GPU runs: NCCL between the processes of tools/dist_train.sh / slurm_train.sh
env_cfg = dict(dist_cfg=dict(backend='nccl'))
