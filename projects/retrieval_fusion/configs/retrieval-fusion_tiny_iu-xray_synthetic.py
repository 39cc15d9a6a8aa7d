# Retrieval + cross-modal fusion on the synthetic IU X-ray twin (CPU): the
# frozen tiny R-CLIP trained on the twin
# (configs/rclip/rclip_tiny_iu-xray_synthetic.py) retrieves and gives image
# features; a 3-layer decoder (128-d) writes the report with beam 3. Its
# test reports both the generated report ('report/...') and the retrieved
# report alone ('retrieval/...'). See ../README.md for the commands.
_base_ = [
    '../../../configs/_base_/datasets/iu_xray_report_tiny.py',
    '../../../configs/_base_/schedules/report_generator_tiny.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['projects.retrieval_fusion.retrieval_fusion'],
    allow_failed_imports=False)

model = dict(
    type='RetrievalFusionReportGenerator',
    data_preprocessor=dict(
        type='mmpretrain.SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    clip=dict(
        model='configs/rclip/rclip_tiny_iu-xray_synthetic.py',
        checkpoint='work_dirs/rclip_tiny_iu/epoch_10.pth'),
    retrieval_corpus=dict(
        type='IUXrayDataset', data_root={{_base_.data_root}}, split='train'),
    hidden_size=128,
    num_heads=4,
    decoder=dict(
        type='TransformerReportHead',
        tokenizer='work_dirs/tokenizers/synthetic-iu-wordpiece',
        hidden_size=128,
        num_layers=3,
        num_heads=4,
        intermediate_size=512,
        max_length=60,
        num_beams=3))
val_evaluator = [
    dict(
        type='ReportGenerationMetric',
        protocol='r2gen',
        r2gen_dataset='iu_xray'),
    dict(
        type='ReportGenerationMetric',
        protocol='r2gen',
        r2gen_dataset='iu_xray',
        pred_key='retrieved_report',
        prefix='retrieval'),
]
test_evaluator = val_evaluator
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=15, max_keep_ckpts=1))
