# Stage 1 of RRG-opt with mixed precision on GPUs (as mmdet's
# faster-rcnn_r50_fpn_amp-1x_coco.py): fp16 autocast with dynamic loss
# scaling; fp16 rather than bf16 because mmcv 2.1's CUDA RoIAlign / NMS have
# fp32 and fp16 kernels only. AmpOptimWrapper needs CUDA (docs/gpu.md).
_base_ = './faster-rcnn_r50_fpn_opt_imagenome.py'
optim_wrapper = dict(
    type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
# GPU runs: NCCL between the processes of tools/dist_train.sh / slurm_train.sh
env_cfg = dict(dist_cfg=dict(backend='nccl'))
