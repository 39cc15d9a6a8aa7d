# RGRG's published model, converted (docs/model_zoo.md):
#   python tools/model_converters/rgrg_to_crrg.py \
#       full_model_checkpoint_val_loss_19.793_overall_steps_155252.pt \
#       work_dirs/rgrg/rgrg_converted.pth
#   python tools/test.py configs/rgrg/rgrg_r50-c5_gpt2-pubmed-medium_imagenome.py \
#       work_dirs/rgrg/rgrg_converted.pth
# on Chest ImaGenome's test split with RGRG's pre-processing. The report is
# assembled by crrg's rule; RGRG's (spaCy + BERTScore) is
# --cfg-options model.report_assembler.type=RGRGReportAssembler \
#   model.report_assembler.spacy_model=en_core_web_trf \
#   model.report_assembler.bertscore_model=/path/to/distilbert-base-uncased
_base_ = [
    '../_base_/models/rgrg_report_generation.py',
    '../_base_/datasets/chest_imagenome_rgrg.py',
    '../_base_/default_runtime.py'
]
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
val_dataloader = dict(batch_size=1)
test_dataloader = dict(batch_size=1)
# scored as RGRG scores (its published row: docs/model_zoo.md)
val_evaluator = [
    dict(type='RegionSelectionMetric'),
    dict(type='ReportGenerationMetric', protocol='rgrg'),
]
test_evaluator = val_evaluator
# testing / inference only: the weights come from the converted checkpoint
# (RGRG's training recipe is not configured here)
train_dataloader = None
train_cfg = None
optim_wrapper = None
param_scheduler = None
