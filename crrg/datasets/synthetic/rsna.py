"""A synthetic twin of the RSNA Pneumonia Detection Challenge layout.

``stage_2_train_labels.csv`` and ``stage_2_train_images/<patientId>.dcm``
(or ``.png``), as Kaggle ships them. The radiographs are drawn by the same
chest model as the MIMIC-CXR twin (:mod:`crrg.datasets.synthetic.mimic`), so
what a CLIP learns there transfers: pneumonia (Target 1) is an opacity in one
or two lung zones, whose boxes are the label rows; about 40% of the other
patients carry a distractor finding (nodule, pleural effusion or
cardiomegaly), so "any abnormality" is not the label.
"""
import os
import os.path as osp
from typing import Dict

import cv2
import numpy as np

from .mimic import LUNG_ZONES, draw_frontal, jittered_boxes

_DISTRACTORS = (('nodule', LUNG_ZONES), ('effusion', (
    'right costophrenic angle', 'left costophrenic angle')),
    ('cardiomegaly', ('cardiac silhouette', )))


def write_dicom(path: str, pixels: np.ndarray, patient_id: str) -> None:
    """Write uint8 (H, W) pixels as a minimal MONOCHROME2 CR DICOM file."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (ExplicitVRLittleEndian, SecondaryCaptureImageStorage,
                             generate_uid)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[patient_id])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = patient_id
    ds.Modality = 'CR'
    ds.BodyPartExamined = 'CHEST'
    ds.ViewPosition = 'PA'
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)


def make_synthetic_rsna(out_dir: str,
                        num_patients: int = 2000,
                        seed: int = 0,
                        image_size: int = 256,
                        positive_fraction: float = 0.3,
                        image_format: str = 'dcm') -> Dict[str, int]:
    """Write the twin under ``out_dir``; deterministic in the arguments.

    Args:
        out_dir (str): Output root.
        num_patients (int): One image per patient. Defaults to 2000.
        seed (int): Random seed. Defaults to 0.
        image_size (int): Square image side, pixels. Defaults to 256.
        positive_fraction (float): Fraction with pneumonia. Defaults to 0.3.
        image_format (str): ``'dcm'`` or ``'png'``. Defaults to 'dcm'.

    Returns:
        dict[str, int]: ``patients``, ``positives``, ``distractors``,
        ``label_rows``.
    """
    if image_format not in ('dcm', 'png'):
        raise ValueError(f'image_format must be dcm or png, got {image_format}')
    rng = np.random.default_rng(seed)
    image_dir = osp.join(out_dir, 'stage_2_train_images')
    os.makedirs(image_dir, exist_ok=True)
    rows = ['patientId,x,y,width,height,Target']
    counts = dict(patients=0, positives=0, distractors=0, label_rows=0)
    for _ in range(num_patients):
        patient = '-'.join(f'{v:0{n}x}' for v, n in zip(
            rng.integers(0, 2**32, size=5), (8, 4, 4, 4, 12)))
        findings = []
        positive = rng.random() < positive_fraction
        if positive:
            zones = rng.choice(LUNG_ZONES, size=rng.integers(1, 3),
                               replace=False)
            findings = [('opacity', str(z)) for z in zones]
        elif rng.random() < 0.4:
            name, regions = _DISTRACTORS[rng.integers(len(_DISTRACTORS))]
            findings = [(name, str(rng.choice(regions)))]
            counts['distractors'] += 1
        boxes = jittered_boxes(rng, image_size, image_size,
                               any(f == 'cardiomegaly' for f, _ in findings))
        pixels = draw_frontal(rng, image_size, image_size, boxes, findings)
        path = osp.join(image_dir, f'{patient}.{image_format}')
        if image_format == 'dcm':
            write_dicom(path, pixels, patient)
        else:
            cv2.imwrite(path, pixels)
        if positive:
            for _, zone in findings:
                x1, y1, x2, y2 = boxes[zone]
                rows.append(f'{patient},{x1:.1f},{y1:.1f},{x2 - x1:.1f},'
                            f'{y2 - y1:.1f},1')
        else:
            rows.append(f'{patient},,,,,0')
        counts['patients'] += 1
        counts['positives'] += int(positive)
    counts['label_rows'] = len(rows) - 1
    with open(osp.join(out_dir, 'stage_2_train_labels.csv'), 'w') as f:
        f.write('\n'.join(rows) + '\n')
    return counts
