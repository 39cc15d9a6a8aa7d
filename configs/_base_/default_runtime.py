default_scope = 'crrg'
custom_imports = dict(imports=['crrg.datasets', 'crrg.models',
                               'crrg.evaluation', 'crrg.engine',
                               'crrg.visualization'],
                      allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # written atomically, with the random state for an exact --resume
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))
# a model card (training data, config, crrg version, research-use notice) in
# every checkpoint's meta, read back by the inferencers
custom_hooks = [dict(type='ModelCardHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # gloo runs everywhere; GPU clusters may prefer nccl via --cfg-options.
    dist_cfg=dict(backend='gloo'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)

# reproducible by default: every run starts from seed 0 (rank r from 0 + r);
# the checkpoint hook saves and restores the random state on --resume
randomness = dict(seed=0, diff_rank_seed=True, deterministic=False)

log_level = 'INFO'
load_from = None
resume = False
