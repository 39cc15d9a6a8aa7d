"""Hand-written samples in the real MIMIC-CXR / Chest ImaGenome / R2Gen
layouts (field names, header rows and value ranges of the real files)."""
import json
import os
import os.path as osp

import cv2
import numpy as np

# A real-layout scene graph (field names and value ranges of Chest ImaGenome's
# silver scene graphs): original_* in original pixels, original_width/height
# the box's own size, 224-scale x1..height alongside; an image of 2544 x 3056
# (MIMIC-CXR-JPG metadata Columns x Rows). Three boxes reach past the image.
REAL_BOXES = {
    'right lung': (420, 520, 1275, 2210),
    'right upper lung zone': (520, 520, 1275, 1080),
    'right mid lung zone': (450, 1080, 1275, 1630),
    'right lower lung zone': (420, 1630, 1275, 2210),
    'right hilar structures': (880, 1050, 1290, 1640),
    'right apical zone': (600, 520, 1230, 820),
    'right costophrenic angle': (400, 2000, 640, 2240),
    'right hemidiaphragm': (420, 1990, 1275, 2300),
    'left lung': (1420, 560, 2280, 2260),
    'left upper lung zone': (1420, 560, 2180, 1110),
    'left mid lung zone': (1420, 1110, 2250, 1680),
    'left lower lung zone': (1420, 1680, 2280, 2260),
    'left hilar structures': (1400, 1080, 1820, 1690),
    'left apical zone': (1460, 560, 2100, 860),
    'left costophrenic angle': (2060, 2040, 2300, 2280),
    'left hemidiaphragm': (1420, 2030, 2280, 2340),
    'trachea': (1180, 90, 1420, 1020),
    'spine': (1110, -40, 1480, 3090),            # past the top and bottom
    'right clavicle': (-25, 380, 1210, 720),     # past the left edge
    'left clavicle': (1380, 390, 2590, 730),     # past the right edge
    'aortic arch': (1380, 830, 1700, 1090),
    'mediastinum': (1030, 830, 1720, 2140),
    'upper mediastinum': (1050, 830, 1560, 1330),
    'svc': (1030, 1000, 1240, 1440),
    'cardiac silhouette': (1090, 1380, 2000, 2140),
    'cavoatrial junction': (1070, 1390, 1260, 1560),
    'right atrium': (1030, 1480, 1300, 2040),
    'carina': (1240, 960, 1390, 1110),
    'abdomen': (300, 2290, 2400, 3056),
}
REAL_SIZE = (2544, 3056)


def real_scene_graph(dicom_id, boxes=REAL_BOXES):
    objects = []
    for name, (x1, y1, x2, y2) in boxes.items():
        s = 224 / max(REAL_SIZE)
        objects.append(dict(
            object_id=f'{dicom_id}_{name}', x1=round(x1 * s) + 17,
            y1=round(y1 * s), x2=round(x2 * s) + 17, y2=round(y2 * s),
            width=round((x2 - x1) * s), height=round((y2 - y1) * s),
            bbox_name=name, synsets=['C0225706'], name=name.capitalize(),
            original_x1=x1, original_y1=y1, original_x2=x2, original_y2=y2,
            original_width=x2 - x1, original_height=y2 - y1))
    attributes = [dict(
        name='Right lung', bbox_name='right lung', synsets=['C0225706'],
        attributes=[['anatomicalfinding|yes|lung opacity',
                     'nlp|yes|abnormal']],
        attributes_ids=[['CL556823']], phrases=[
            'Patchy opacity in the right lung base\n may reflect atelectasis.'],
        phrase_IDs=['50414267|2'], sections=['finalreport'],
        comparison_cues=[[]], temporal_cues=[[]], severity_cues=[[]],
        texture_cues=[[]], object_id=f'{dicom_id}_right lung'),
        dict(name='Left breast', bbox_name='left breast', synsets=[],
             attributes=[['nlp|yes|normal']], phrases=['No mass.'])]
    return dict(image_id=dicom_id, viewpoint='PA', patient_id=10000032,
                study_id=50414267, gender='F', age_decile='50-60',
                objects=objects, attributes=attributes, relationships=[])



SUBJECT = 10000032
#: (dicom_id, study_id, ImaGenome split, MIMIC split, regions dropped)
IMAGES = [
    ('02aa804e-bde0afdd-112c0b34-7bc16630-4e384014', 50414267, 'train',
     'train', ()),
    ('174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962', 53189527, 'train',
     'train', ()),                       # listed in images_to_avoid.csv
    ('2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab', 53911762, 'valid',
     'validate', ('carina', )),         # 28 regions
    ('68b5c4b1-227d0485-9cc38c3f-7b84ab51-4b472714', 56699142, 'test',
     'test', ()),
    ('0518c887-b80608ca-830de2d5-89acf0e2-bd3ec900', 57375967, 'test',
     'test', ()),                        # one of RGRG's failed X-rays
    ('fffabebf-74fd3a1f-673b6b41-96ec0ac9-2ab69818', 58555910, 'test',
     'test', ()),                        # report without FINDINGS
]
AVOIDED = IMAGES[1][0]
# MIMIC-CXR report lines start with one space; blank lines are " "
REPORT = '\n'.join([
    '                                 FINAL REPORT',
    ' EXAMINATION:  CHEST (PA AND LAT)',
    ' ',
    ' INDICATION:  ___F with new onset ascites  // eval for infection',
    ' ',
    ' TECHNIQUE:  Chest PA and lateral',
    ' ',
    ' COMPARISON:  None.',
    ' ',
    ' FINDINGS:',
    ' ',
    ' There is no focal consolidation, pleural effusion or pneumothorax.  Bilateral',
    ' nodular opacities that most likely represent nipple shadows. The',
    ' cardiomediastinal silhouette is normal.  Clips project over the left lung,',
    ' potentially within the breast. The imaged upper abdomen is unremarkable.',
    ' Chronic deformity of the posterior left sixth and seventh ribs are noted.',
    ' ',
    ' IMPRESSION:',
    ' ',
    ' No acute cardiopulmonary process.',
]) + '\n'
FINDINGS = (
    'There is no focal consolidation, pleural effusion or pneumothorax. '
    'Bilateral nodular opacities that most likely represent nipple shadows. '
    'The cardiomediastinal silhouette is normal. Clips project over the left '
    'lung, potentially within the breast. The imaged upper abdomen is '
    'unremarkable. Chronic deformity of the posterior left sixth and seventh '
    'ribs are noted.')
NO_FINDINGS_REPORT = REPORT.split(' FINDINGS:')[0] + (
    ' IMPRESSION:\n \n No acute cardiopulmonary process.\n')


def _rel(dicom, study, ext='.jpg'):
    return f'files/p10/p{SUBJECT}/s{study}/{dicom}{ext}'


def write_real_layout_sample(root: str) -> None:
    """A six-image MIMIC-CXR-JPG + reports + Chest ImaGenome + R2Gen tree.

    The MIMIC-CXR-JPG tables are plain ``.csv`` (a config names ``.csv.gz``),
    the ImaGenome split files have their unnamed index column, and the
    images are tiny (their size comes from the metadata, 2544 x 3056).
    """
    jpg = osp.join(root, 'mimic-cxr-jpg')
    splits = osp.join(root, 'chest-imagenome', 'silver_dataset', 'splits')
    graphs = osp.join(root, 'chest-imagenome', 'silver_dataset', 'scene_graph')
    gold_dir = osp.join(root, 'chest-imagenome', 'gold_dataset')
    for d in (jpg, splits, graphs, gold_dir, osp.join(root, 'mimic-cxr-r2gen')):
        os.makedirs(d, exist_ok=True)
    pixels = np.full((16, 16), 90, np.uint8)
    meta = ['dicom_id,subject_id,study_id,PerformedProcedureStepDescription,'
            'ViewPosition,Rows,Columns,StudyDate,StudyTime,'
            'ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,'
            'PatientOrientationCodeSequence_CodeMeaning']
    split_rows = ['dicom_id,study_id,subject_id,split']
    imagenome = dict(train=[], valid=[], test=[])
    r2gen = dict(train=[], val=[], test=[])
    for dicom, study, im_split, mimic_split, dropped in IMAGES:
        path = osp.join(jpg, _rel(dicom, study))
        os.makedirs(osp.dirname(path), exist_ok=True)
        cv2.imwrite(path, pixels)
        report = osp.join(root, 'mimic-cxr-reports',
                          f'files/p10/p{SUBJECT}/s{study}.txt')
        os.makedirs(osp.dirname(report), exist_ok=True)
        with open(report, 'w', encoding='utf-8') as f:
            f.write(NO_FINDINGS_REPORT if dicom == IMAGES[-1][0] else REPORT)
        boxes = {k: v for k, v in REAL_BOXES.items() if k not in dropped}
        with open(osp.join(graphs, f'{dicom}_SceneGraph.json'), 'w',
                  encoding='utf-8') as f:
            json.dump(real_scene_graph(dicom, boxes), f)
        meta.append(f'{dicom},{SUBJECT},{study},CHEST (PA AND LAT),PA,3056,'
                    '2544,21800506,213014.531,CHEST (PA AND LAT),'
                    'postero-anterior,Erect')
        split_rows.append(f'{dicom},{study},{SUBJECT},{mimic_split}')
        imagenome[im_split].append(
            f'{len(imagenome[im_split])},{SUBJECT},{study},{dicom},'
            f'{_rel(dicom, study, ".dcm")},PA')
        if dicom != IMAGES[-1][0]:
            key = dict(validate='val').get(mimic_split, mimic_split)
            r2gen[key].append(dict(
                id=dicom, study_id=study, subject_id=SUBJECT,
                report=FINDINGS, image_path=[_rel(dicom, study)[6:]],
                split=key))
    for name, rows in (('mimic-cxr-2.0.0-metadata.csv', meta),
                       ('mimic-cxr-2.0.0-split.csv', split_rows)):
        with open(osp.join(jpg, name), 'w', encoding='utf-8') as f:
            f.write('\n'.join(rows) + '\n')
    for name, rows in imagenome.items():
        with open(osp.join(splits, f'{name}.csv'), 'w', encoding='utf-8') as f:
            f.write(',subject_id,study_id,dicom_id,path,ViewPosition\n' +
                    ''.join(r + '\n' for r in rows))
    dicom, study = IMAGES[1][:2]
    with open(osp.join(splits, 'images_to_avoid.csv'), 'w',
              encoding='utf-8') as f:
        f.write('subject_id,study_id,dicom_id,path,ViewPosition\n'
                f'{SUBJECT},{study},{dicom},{_rel(dicom, study, ".dcm")},PA\n')
    # the gold-standard boxes of the avoided image (every 3rd region), a few
    # pixels off the silver ones
    with open(osp.join(gold_dir,
                       'gold_bbox_coordinate_annotations_1000images.csv'),
              'w', encoding='utf-8') as f:
        f.write('image_id,x1,y1,x2,y2,width,height,bbox_name,annot_id,'
                'original_x1,original_x2,original_y1,original_y2,'
                'original_width,original_height,annotator,coord224,'
                'coord_original\n')
        for name, (x1, y1, x2, y2) in list(REAL_BOXES.items())[::3]:
            x1, x2 = x1 + 5, x2 - 5
            f.write(f'{dicom}.dcm,0,0,0,0,0,0,{name},{dicom}|{name},{x1},{x2},'
                    f'{y1},{y2},{x2 - x1},{y2 - y1},J,"[0, 0, 0, 0]",'
                    f'"[{x1}, {y1}, {x2}, {y2}]"\n')
    with open(osp.join(root, 'mimic-cxr-r2gen', 'annotation.json'), 'w',
              encoding='utf-8') as f:
        json.dump(r2gen, f)
