# The random-initialisation baseline: the same probe on an untrained encoder.
_base_ = ['./probe_r50_rclip_rsna-1pct.py']
model = dict(backbone=dict(init_cfg=None))
