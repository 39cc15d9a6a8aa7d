"""DICOM Structured Reports of crrg's region-guided predictions (highdicom).

One Comprehensive SR per image, a TID 1500 "Imaging Measurement Report"
built with highdicom (which validates the content on construction):

- the document references the source image (its study, series and SOP
  instance UIDs) as evidence, and lives in the source's study and patient;
- an image-level measurement group (TID 1501, finding site "Chest") holds
  the full report as a TEXT "Findings" item, one TEXT "Comment" per warning
  the loader raised (e.g. a DICOM header that names another body part), and
  the algorithm identification (TID 4019: ``crrg``, its version, the config
  name and the checkpoint's SHA-256);
- each selected region is a planar ROI group (TID 1410): its tracking
  identifier (``region <index>: <name>``), its coded finding site
  (:mod:`crrg.dicom.region_codes`), its box as a closed POLYLINE SCOORD in
  the source image's pixels (DICOM's image coordinates: the top-left corner
  of the top-left pixel is (0, 0), as for crrg's boxes), its sentence as a
  TEXT "Finding", and the selection and detection scores as unitless
  numeric measurements with private concept names.

highdicom's templates take coded qualitative evaluations only; the TEXT
items (TID 1501 / TID 1410 allow TEXT qualitative evaluations) are added to
the groups highdicom built, as highdicom content items.

Only a DICOM image can be referenced: for a JPEG or PNG input the writer
raises :class:`SRSourceError` (an SR must point at an instance the archive
holds, with the patient and study it belongs to, which such a file does not
carry). The SR's UIDs are derived from the source image and the model, so
the same image reported by the same model gives the same SR UID.
"""
import datetime
import hashlib
import os
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import highdicom as hd
from highdicom.coding_schemes import CodingSchemeIdentificationItem
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from crrg.engine.hooks.model_card_hook import RESEARCH_NOTICE
from crrg.version import __version__
from .region_codes import PRIVATE_SCHEME, PRIVATE_SCHEME_NAME, region_code

#: Manufacturer of every crrg SR (the worker finds its SRs by it)
MANUFACTURER = 'crrg'
SERIES_NUMBER = 990
SERIES_DESCRIPTION = 'crrg region-guided report (AI, unverified)'

SELECTION_SCORE = Code('M-SELECT-SCORE', PRIVATE_SCHEME,
                       'Region selection score')
DETECTION_SCORE = Code('M-DETECT-SCORE', PRIVATE_SCHEME,
                       'Region detection score')
PLAIN_RADIOGRAPHY = Code('168537006', 'SCT', 'Plain radiography')
CHEST = Code('816094009', 'SCT', 'Chest')


class SRSourceError(ValueError):
    """The prediction or its source image cannot give an SR (the message
    names the file and what to do)."""


@dataclass(frozen=True)
class ModelInfo:
    """What identifies the model in an SR (TID 4019 and the device observer).

    Attributes:
        config_name (str): The config's name, e.g.
            ``'rrg-generator_tiny_synthetic'``.
        checkpoint_sha256 (str): SHA-256 of the checkpoint file (hex).
        version (str): crrg's version. Defaults to the installed one.
        model_card (str, optional): The model card's one-line summary
            (training data, config; :func:`crrg.engine.model_card_of`),
            written with the research-use notice into the algorithm's
            parameters. Defaults to None.
    """

    config_name: str
    checkpoint_sha256: str
    version: str = __version__
    model_card: Optional[str] = None

    @classmethod
    def from_files(cls, config: str, checkpoint: str) -> 'ModelInfo':
        """The info of a config file and a checkpoint file (hashed here).

        Args:
            config (str): Config file; its name without ``.py`` is used.
            checkpoint (str): Checkpoint file.
        """
        digest = hashlib.sha256()
        with open(checkpoint, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                digest.update(block)
        name = osp.splitext(osp.basename(str(config)))[0]
        return cls(config_name=name, checkpoint_sha256=digest.hexdigest())

    def algorithm(self) -> hd.sr.AlgorithmIdentification:
        """TID 4019 Algorithm Identification (with the model card and the
        research-use notice among its parameters when a card is given)."""
        parameters = [
            f'config={self.config_name}',
            f'checkpoint_sha256={self.checkpoint_sha256}'
        ]
        if self.model_card:
            parameters += [f'model_card={self.model_card}',
                           f'notice={RESEARCH_NOTICE}']
        return hd.sr.AlgorithmIdentification(
            name='crrg',
            version=self.version,
            parameters=parameters,
            manufacturer=MANUFACTURER)


def read_source(source: Union[str, os.PathLike, Dataset]) -> Dataset:
    """The source image's header (pixel data is not needed).

    Args:
        source (str | os.PathLike | Dataset): A DICOM file or dataset.

    Returns:
        Dataset: The header.

    Raises:
        SRSourceError: Not a DICOM file, or a DICOM without the UIDs an SR
            must reference.
    """
    if isinstance(source, Dataset):
        ds, name = source, 'the source dataset'
    else:
        name = str(source)
        try:
            ds = pydicom.dcmread(name, stop_before_pixels=True)
        except (pydicom.errors.InvalidDicomError, OSError) as err:
            raise SRSourceError(
                f'{name}: not a DICOM file ({err}); a DICOM SR can only '
                'reference a DICOM image that an archive holds (with its '
                'patient, study and series UIDs). Write the SR for the DICOM '
                'the image came from, or convert the image to DICOM with the '
                'patient\'s identity first') from err
    missing = [
        k for k in ('StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID',
                    'SOPClassUID', 'Rows', 'Columns') if not ds.get(k)
    ]
    if missing:
        raise SRSourceError(f'{name}: the DICOM header has no {missing}; an '
                            'SR cannot reference this instance')
    return ds


def _region_group(region: dict, source: Dataset,
                  algorithm: hd.sr.AlgorithmIdentification
                  ) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    """TID 1410 group of one selected region (see the module docstring)."""
    code = region_code(region['name'])
    x1, y1, x2, y2 = (float(v) for v in region['bbox'])
    polyline = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]],
                        dtype=np.float32)
    unit = codes.UCUM.NoUnits
    measurements = [
        hd.sr.Measurement(name=SELECTION_SCORE,
                          value=float(region['selection_score']),
                          unit=unit),
        hd.sr.Measurement(name=DETECTION_SCORE,
                          value=float(region['score']),
                          unit=unit),
    ]
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=generate_uid(entropy_srcs=[
                'crrg-region',
                str(source.SOPInstanceUID),
                str(region['index'])
            ]),
            identifier=f'region {region["index"]}: {region["name"]}'),
        referenced_region=hd.sr.ImageRegion(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
            graphic_data=polyline,
            source_image=hd.sr.SourceImageForRegion.from_source_image(
                source)),
        finding_sites=[
            hd.sr.FindingSite(anatomic_location=code.location,
                              laterality=code.laterality)
        ],
        algorithm_id=algorithm,
        measurements=measurements)
    sentence = str(region.get('sentence') or '').strip()
    if sentence:
        group[0].ContentSequence.append(
            hd.sr.TextContentItem(
                name=codes.DCM.Finding,
                value=sentence,
                relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    return group


def _image_group(prediction: dict, source: Dataset,
                 algorithm: hd.sr.AlgorithmIdentification
                 ) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """TID 1501 group of the whole image: report, warnings, algorithm."""
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=generate_uid(
                entropy_srcs=['crrg-report',
                              str(source.SOPInstanceUID)]),
            identifier='crrg report'),
        finding_sites=[hd.sr.FindingSite(anatomic_location=CHEST)],
        algorithm_id=algorithm,
        source_images=[
            hd.sr.SourceImageForMeasurementGroup.from_source_image(source)
        ])
    texts = [(codes.DCM.Findings, str(prediction.get('report') or ''))]
    texts += [(codes.DCM.Comment, str(w))
              for w in prediction.get('warnings') or []]
    for name, value in texts:
        if value.strip():
            group[0].ContentSequence.append(
                hd.sr.TextContentItem(
                    name=name,
                    value=value.strip(),
                    relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    return group


def build_sr(prediction: dict,
             source: Union[str, os.PathLike, Dataset],
             model_info: ModelInfo,
             content_datetime: Optional[datetime.datetime] = None
             ) -> hd.sr.ComprehensiveSR:
    """The Comprehensive SR of one prediction (see the module docstring).

    Args:
        prediction (dict): One of :class:`crrg.apis.ReportInferencer`'s
            predictions (``ori_shape``, ``report``, ``regions``, ``warnings``
            and, when present, ``status`` / ``refusal``).
        source (str | os.PathLike | Dataset): The DICOM image the prediction
            was made on (a file or its dataset; pixels are not read).
        model_info (ModelInfo): The model's identification.
        content_datetime (datetime, optional): The SR's content date and
            time. Defaults to now.

    Returns:
        highdicom.sr.ComprehensiveSR: The SR, validated by highdicom.

    Raises:
        SRSourceError: The source is not a DICOM image, its size differs from
            the prediction's ``ori_shape`` (the boxes would not be in its
            pixels), the prediction was refused, or a region has no code.
    """
    ds = read_source(source)
    name = prediction.get('img_path') or 'the prediction'
    if prediction.get('status', 'ok') != 'ok':
        raise SRSourceError(
            f'{name}: the prediction was refused ({prediction.get("refusal")})'
            '; no SR is written for a refused image')
    shape = [int(ds.Rows), int(ds.Columns)]
    if list(prediction['ori_shape'][:2]) != shape:
        raise SRSourceError(
            f'{name}: the prediction is for a {prediction["ori_shape"][:2]} '
            f'(rows, columns) image but the DICOM {ds.SOPInstanceUID} has '
            f'{shape}; pass the DICOM the prediction was made on')
    algorithm = model_info.algorithm()
    selected = [r for r in prediction.get('regions', []) if r['selected']]
    try:
        groups: List = [_image_group(prediction, ds, algorithm)]
        groups += [_region_group(r, ds, algorithm) for r in selected]
    except KeyError as err:
        raise SRSourceError(f'{name}: {err.args[0]}') from err
    observer = hd.sr.ObserverContext(
        observer_type=codes.cid270.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=[
                'crrg-device', model_info.config_name,
                model_info.checkpoint_sha256
            ]),
            name='crrg',
            manufacturer_name=MANUFACTURER,
            model_name=model_info.config_name))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_device_context=observer),
        procedure_reported=PLAIN_RADIOGRAPHY,
        imaging_measurements=groups,
        title=codes.cid7021.ImagingMeasurementReport)
    now = content_datetime or datetime.datetime.now()
    return hd.sr.ComprehensiveSR(
        evidence=[ds],
        content=report[0],
        series_instance_uid=generate_uid(
            entropy_srcs=['crrg-sr-series',
                          str(ds.StudyInstanceUID)]),
        series_number=SERIES_NUMBER,
        sop_instance_uid=sr_uid(ds, model_info),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=model_info.config_name,
        software_versions=model_info.version,
        series_description=SERIES_DESCRIPTION,
        content_qualification='RESEARCH',
        coding_schemes=[
            CodingSchemeIdentificationItem(
                designator=PRIVATE_SCHEME, name=PRIVATE_SCHEME_NAME)
        ],
        # UTF-8: the report is Python text, whatever the source's character set
        specific_character_set='ISO_IR 192',
        is_complete=True,
        is_final=False,
        is_verified=False,
        content_date=now.date(),
        content_time=now.time(),
        series_date=now.date(),
        series_time=now.time())


def sr_uid(source: Dataset, model_info: ModelInfo) -> str:
    """The SOP instance UID crrg gives the SR of ``source`` by this model."""
    return generate_uid(entropy_srcs=[
        'crrg-sr', str(source.SOPInstanceUID), model_info.config_name,
        model_info.checkpoint_sha256
    ])


def write_sr(prediction: dict, source: Union[str, os.PathLike, Dataset],
             out_path: Union[str, os.PathLike],
             model_info: ModelInfo) -> str:
    """Build the SR of one prediction (:func:`build_sr`) and write it.

    Args:
        prediction (dict): One inferencer prediction.
        source (str | os.PathLike | Dataset): The DICOM it was made on.
        out_path (str | os.PathLike): The ``.dcm`` file to write (its folder
            is created).
        model_info (ModelInfo): The model's identification.

    Returns:
        str: ``out_path``.
    """
    sr = build_sr(prediction, source, model_info)
    out_path = str(out_path)
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    sr.save_as(out_path, enforce_file_format=True)
    return out_path


def _code(code: Optional[Code]) -> Optional[tuple]:
    return None if code is None else (code.value, code.scheme_designator,
                                      code.meaning)


def _text(group: Sequence, name: Code) -> List[str]:
    return [
        str(item.TextValue) for item in hd.sr.utils.find_content_items(
            group, name=name, value_type=hd.sr.ValueTypeValues.TEXT)
    ]


def read_sr(path_or_dataset: Union[str, os.PathLike, Dataset]) -> dict:
    """What a crrg SR says, read back with highdicom.

    Args:
        path_or_dataset (str | os.PathLike | Dataset): The SR.

    Returns:
        dict: ``{'referenced': [(study, series, sop) UIDs of the evidence],
        'report': str, 'warnings': [str], 'algorithm': [parameters],
        'regions': [{'index', 'name', 'finding_site', 'laterality', 'bbox'
        [x1, y1, x2, y2] source pixels, 'sentence', 'selection_score',
        'score'}]}``; codes as ``(value, scheme, meaning)`` tuples (a
        laterality may be None).

    Raises:
        SRSourceError: The SR was not written by :func:`build_sr`.
    """
    if isinstance(path_or_dataset, Dataset):
        sr = hd.sr.ComprehensiveSR.from_dataset(path_or_dataset)
    else:
        sr = hd.sr.srread(str(path_or_dataset))
    content = sr.content
    image_groups = content.get_image_measurement_groups()
    report_groups = [
        g for g in image_groups if g.tracking_identifier == 'crrg report'
    ]
    if not report_groups:
        raise SRSourceError(f'{sr.SOPInstanceUID}: not an SR written by '
                            'crrg (no "crrg report" measurement group)')
    report_group = report_groups[0]
    algorithm = [
        str(item.TextValue) for item in hd.sr.utils.find_content_items(
            report_group[0],
            name=codes.DCM.AlgorithmParameters,
            value_type=hd.sr.ValueTypeValues.TEXT)
    ]
    regions = []
    for group in content.get_planar_roi_measurement_groups():
        index, name = group.tracking_identifier.split(': ', 1)
        points = group.roi.value
        site = group.finding_sites[0]

        def value(concept: Code) -> float:
            return float(group.get_measurements(name=concept)[0].value)

        texts = _text(group[0], codes.DCM.Finding)
        regions.append({
            'index': int(index.split()[-1]),
            'name': name,
            'finding_site': _code(site.value),
            'laterality': _code(site.laterality),
            'bbox': [
                float(points[:, 0].min()),
                float(points[:, 1].min()),
                float(points[:, 0].max()),
                float(points[:, 1].max())
            ],
            'sentence': texts[0] if texts else '',
            'selection_score': value(SELECTION_SCORE),
            'score': value(DETECTION_SCORE),
        })
    findings = _text(report_group[0], codes.DCM.Findings)
    return {
        'referenced': [(e[0], e[1], e[2])
                       for e in sr.get_evidence()],
        'report': findings[0] if findings else '',
        'warnings': _text(report_group[0], codes.DCM.Comment),
        'algorithm': algorithm,
        'regions': regions,
    }
