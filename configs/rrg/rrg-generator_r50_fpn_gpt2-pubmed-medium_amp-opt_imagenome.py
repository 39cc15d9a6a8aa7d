# Stage 3 of RRG-opt with mixed precision on GPUs: fp16 autocast with
# dynamic loss scaling, from the selector of
# rrg-selector_r50_fpn_amp-opt_imagenome.py. The CPU fast paths stay off:
# the detector in fp32 weights, and the generator decodes with its own
# weights (inference_precision='fp32'; the int8 decoding step is CPU-only).
_base_ = './rrg-generator_r50_fpn_gpt2-pubmed-medium_opt_imagenome.py'
model = dict(
    detector=dict(inference_precision='fp32', channels_last=False),
    generator=dict(inference_precision='fp32'))
load_from = 'work_dirs/rrg-selector_r50_fpn_amp-opt_imagenome/epoch_10.pth'
optim_wrapper = dict(
    type='AmpOptimWrapper', dtype='float16', loss_scale='dynamic')
# GPU runs: NCCL between the processes of tools/dist_train.sh / slurm_train.sh
env_cfg = dict(dist_cfg=dict(backend='nccl'))
