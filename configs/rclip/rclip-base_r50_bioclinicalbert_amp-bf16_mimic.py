# R-CLIP-base with mixed precision on GPUs: bf16 autocast (Ampere or newer;
# same exponent range as fp32, so the contrastive logits need no loss
# scaling: a fixed scale of 1). On a GPU without bf16 (V100, T4) use
# --cfg-options optim_wrapper.dtype=float16 optim_wrapper.loss_scale=dynamic.
_base_ = './rclip-base_r50_bioclinicalbert_mimic.py'
optim_wrapper = dict(
    type='AmpOptimWrapper', dtype='bfloat16', loss_scale=1.0)
# GPU runs: NCCL between the processes of tools/dist_train.sh / slurm_train.sh
env_cfg = dict(dist_cfg=dict(backend='nccl'))
