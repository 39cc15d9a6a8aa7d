# Tiny R-CLIP-opt: the tiny R-CLIP trained on RRG-generated reports of the
# CLIP twin's training studies instead of the reference reports:
#   python tools/generate_reports.py configs/rrg/rrg-generator_tiny_synthetic.py \
#       <RRG checkpoint> configs/rclip/rclip_tiny_synthetic.py \
#       --out work_dirs/rrg_reports/synthetic_clip_train.jsonl
_base_ = ['./rclip_tiny_synthetic.py']
train_dataloader = dict(
    dataset=dict(report_file='work_dirs/rrg_reports/synthetic_clip_train.jsonl'))
