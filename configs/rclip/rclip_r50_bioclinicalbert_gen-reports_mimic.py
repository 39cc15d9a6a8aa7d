# R-CLIP-opt: the same model trained on RRG-generated reports instead of the
# reference ones. Write them first with the trained RRG-opt model:
#   python tools/generate_reports.py \
#       configs/rrg/rrg-generator_r50_fpn_gpt2-pubmed-medium_opt_imagenome.py \
#       <rrg checkpoint> configs/rclip/rclip_r50_bioclinicalbert_gen-reports_mimic.py \
#       --out work_dirs/rrg_reports/mimic_train.jsonl
_base_ = ['./rclip_r50_bioclinicalbert_mimic.py']
train_dataloader = dict(
    dataset=dict(report_file='work_dirs/rrg_reports/mimic_train.jsonl'))
