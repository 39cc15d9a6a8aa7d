"""tools/generate_reports.py writes a report file R-CLIP-opt can train on."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from crrg.registry import DATASETS

REPO = Path(__file__).resolve().parents[2]
# a plugin module (custom_imports) of the model the tool runs
PLUGIN = """
from pathlib import Path

import torch
from mmengine.model import BaseModel

from crrg.registry import MODELS


@MODELS.register_module(force=True)
class PathEchoReportModel(BaseModel):
    \"\"\"Writes 'report of <image file stem> at <height>px.' per image.\"\"\"

    def __init__(self, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.layer = torch.nn.Linear(1, 1)

    def forward(self, inputs, data_samples=None, mode='predict'):
        for image, sample in zip(inputs, data_samples):
            sample.pred_report = (f'report of {Path(sample.img_path).stem} at '
                                  f'{image.shape[-2]}px.')
        return data_samples
"""


def test_generated_reports_feed_the_clip_dataset(synthetic_twin, tmp_path):
    """Two replicas write each study's report, in the dataset's order."""
    root, _ = synthetic_twin
    (tmp_path / 'path_echo_model.py').write_text(textwrap.dedent(PLUGIN))
    rrg_cfg = tmp_path / 'rrg.py'
    rrg_cfg.write_text("""
default_scope = 'crrg'
custom_imports = dict(imports=['path_echo_model'], allow_failed_imports=False)
model = dict(type='PathEchoReportModel', data_preprocessor=dict(
    type='DetDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(48, 48), keep_ratio=False),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path')),
]))
""")
    clip_cfg = tmp_path / 'clip.py'
    clip_cfg.write_text(f"""
train_dataloader = dict(dataset=dict(
    type='MimicCxrImageTextDataset', data_root='{root}', split='train',
    pipeline=[dict(type='MultiImageViews', transforms=[])]))
""")
    checkpoint = tmp_path / 'rrg.pth'
    torch.save(dict(state_dict={'layer.weight': torch.zeros(1, 1),
                                'layer.bias': torch.zeros(1)}), checkpoint)
    out = tmp_path / 'reports' / 'train.jsonl'
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(REPO), str(tmp_path)]))
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'generate_reports.py'),
         str(rrg_cfg), str(checkpoint), str(clip_cfg), '--out', str(out),
         '--batch-size', '5', '--replicas', '2'],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    studies = DATASETS.build(dict(type='MimicCxrImageTextDataset',
                                  data_root=str(root)))
    assert [r['study_id'] for r in records] == [
        studies.get_data_info(i)['study_id'] for i in range(len(studies))]
    assert all(r['report'] == f'report of {Path(r["img_path"]).stem} at 48px.'
               for r in records)
    opt = DATASETS.build(dict(type='MimicCxrImageTextDataset',
                              data_root=str(root), report_file=str(out)))
    info = opt.get_data_info(2)
    stem = Path(info['img_paths'][0]).stem
    assert info['texts'] == [f'report of {stem} at 48px.']
