"""A synthetic twin of IU X-ray in R2Gen's layout (``annotation.json`` +
``images/<id>/{0,1}.png``).

Each study has a frontal (PA-looking: two lungs, heart, spine) and a lateral
(one lung field, heart in front, spine behind) grayscale PNG. The report's
findings are drawn into the views, so they can be read from the pixels: a
mildly enlarged heart or cardiomegaly is a bigger heart, a small or large
pleural effusion fills the base of its lung, an opacity is a bright disc in an
upper, mid or lower lung zone; a study without findings gets the normal
report. Each finding has one fixed sentence, so the report is a function of
the image, and findings combine independently per side (3 heart sizes x 3
effusion states x 4 opacity states per lung = 432 reports): many test reports
never occur in the training split, which a compositional generator can write
and a "nearest training report" retrieval cannot.
"""
import json
import os
import os.path as osp
from typing import Dict

import cv2
import numpy as np

from crrg.datasets.iu_xray import make_iu_xray_splits

_HEART = {
    'normal': ('The heart is normal in size.', 0.12),
    'mild': ('The heart is mildly enlarged.', 0.16),
    'enlarged': ('There is cardiomegaly.', 0.2),
}
_EFFUSION_HEIGHT = {'small': 0.25, 'large': 0.55}  # fraction of lung height
_ZONE_OFFSET = {'upper': -0.5, 'mid': 0.0, 'lower': 0.5}
_SIDES = ('right', 'left')


def _sample_findings(rng: np.random.Generator) -> dict:
    """Heart size, and per side an effusion size and an opacity zone."""
    return dict(
        heart=str(rng.choice(list(_HEART), p=[0.4, 0.3, 0.3])),
        effusion={
            side: (str(rng.choice(list(_EFFUSION_HEIGHT)))
                   if rng.random() < 0.3 else None)
            for side in _SIDES
        },
        opacity={
            side: (str(rng.choice(list(_ZONE_OFFSET)))
                   if rng.random() < 0.35 else None)
            for side in _SIDES
        })


def _frontal(size: int, rng: np.random.Generator, findings: dict) -> np.ndarray:
    """A PA-looking view (size, size) uint8 showing ``findings``."""
    img = np.full((size, size), 30, np.float32)
    cx = size // 2
    lung_w, lung_h = int(size * 0.17), int(size * 0.3)
    # patient's right on the image's left, as in a PA view
    lungs = {
        side: (cx + sign * int(size * 0.2), int(size * 0.45))
        for side, sign in zip(_SIDES, (-1, 1))
    }
    for center in lungs.values():
        cv2.ellipse(img, center, (lung_w, lung_h), 0, 0, 360, 70, -1)
    cv2.rectangle(img, (cx - size // 24, 0), (cx + size // 24, size), 160, -1)
    heart_r = int(size * _HEART[findings['heart']][1])
    cv2.ellipse(img, (cx + size // 20, int(size * 0.62)),
                (heart_r, int(heart_r * 0.8)), 0, 0, 360, 170, -1)
    for side, (x, y) in lungs.items():
        effusion = findings['effusion'][side]
        if effusion:
            height = int(lung_h * _EFFUSION_HEIGHT[effusion])
            cv2.rectangle(img, (x - lung_w, y + lung_h - height),
                          (x + lung_w, y + lung_h), 210, -1)
        zone = findings['opacity'][side]
        if zone:
            cv2.circle(img, (x, int(y + _ZONE_OFFSET[zone] * lung_h)),
                       size // 14, 235, -1)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _lateral(size: int, rng: np.random.Generator, findings: dict) -> np.ndarray:
    """A lateral-looking view (size, size) uint8 showing ``findings``.

    Both lungs project onto one field, so sides are told apart only in the
    frontal view.
    """
    img = np.full((size, size), 30, np.float32)
    cv2.ellipse(img, (size // 2, int(size * 0.45)),
                (int(size * 0.3), int(size * 0.33)), 0, 0, 360, 70, -1)
    cv2.rectangle(img, (int(size * 0.78), 0), (int(size * 0.86), size), 160,
                  -1)
    heart_r = int(size * (_HEART[findings['heart']][1] + 0.01))
    cv2.circle(img, (int(size * 0.36), int(size * 0.6)), heart_r, 170, -1)
    heights = [
        _EFFUSION_HEIGHT[e] for e in findings['effusion'].values() if e
    ]
    if heights:
        height = int(size * 0.33 * max(heights))
        cv2.rectangle(img, (int(size * 0.45), int(size * 0.78) - height),
                      (int(size * 0.78), int(size * 0.78)), 210, -1)
    for zone in findings['opacity'].values():
        if zone:
            cv2.circle(img, (int(size * 0.55),
                             int(size * (0.45 + 0.25 * _ZONE_OFFSET[zone]))),
                       size // 16, 235, -1)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _report(findings: dict) -> str:
    """The report of ``findings``: heart, lungs, pleura, one fixed wording."""
    sentences = [_HEART[findings['heart']][0]]
    opacities = [(side, zone) for side, zone in findings['opacity'].items()
                 if zone]
    sentences += [
        f'There is an opacity in the {side} {zone} lung zone.'
        for side, zone in opacities
    ] or ['The lungs are clear.']
    effusions = [(side, size) for side, size in findings['effusion'].items()
                 if size]
    sentences += [
        f'There is a {size} {side} pleural effusion.'
        for side, size in effusions
    ] or ['No pleural effusion.']
    return ' '.join(sentences)


def make_synthetic_iu_xray(out_dir: str,
                           num_studies: int = 300,
                           seed: int = 0,
                           image_size: int = 160) -> Dict[str, int]:
    """Write a synthetic IU X-ray twin to ``out_dir``.

    Args:
        out_dir (str): Output root; receives ``annotation.json`` and
            ``images/CXR<n>_IM-<m>/{0,1}.png``.
        num_studies (int): Number of studies (two images each).
            Defaults to 300.
        seed (int): Random seed; the same seed writes the same files.
            Defaults to 0.
        image_size (int): Side of the square images in pixels. Defaults to 160.

    Returns:
        dict[str, int]: Studies per split (``train``, ``val``, ``test``, 7:1:2)
        and ``abnormal``, the number of studies with at least one finding.
    """
    rng = np.random.default_rng(seed)
    entries = []
    abnormal = 0
    for index in range(num_studies):
        findings = _sample_findings(rng)
        abnormal += (findings['heart'] != 'normal'
                     or any(findings['effusion'].values())
                     or any(findings['opacity'].values()))
        study = f'CXR{index + 1}_IM-{1000 + index:04d}'
        os.makedirs(osp.join(out_dir, 'images', study), exist_ok=True)
        for view, draw in enumerate((_frontal, _lateral)):
            cv2.imwrite(
                osp.join(out_dir, 'images', study, f'{view}.png'),
                draw(image_size, rng, findings))
        entries.append(
            dict(
                id=study,
                report=_report(findings),
                image_path=[f'{study}/0.png', f'{study}/1.png']))
    annotation = make_iu_xray_splits(entries, seed=seed)
    with open(osp.join(out_dir, 'annotation.json'), 'w',
              encoding='utf-8') as f:
        json.dump(annotation, f, indent=1)
    counts = {split: len(items) for split, items in annotation.items()}
    counts['abnormal'] = abnormal
    return counts
