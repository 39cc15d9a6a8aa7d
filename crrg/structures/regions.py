"""The 29 Chest ImaGenome anatomical regions, in the order region-guided work uses.

A region's index in :data:`ANATOMICAL_REGIONS` is its detector label (0..28);
mmdet appends the background class itself, so detectors have 29 foreground
classes (the paper's "30 classes" counts background).
"""
ANATOMICAL_REGIONS = (
    'right lung', 'right upper lung zone', 'right mid lung zone',
    'right lower lung zone', 'right hilar structures', 'right apical zone',
    'right costophrenic angle', 'right hemidiaphragm', 'left lung',
    'left upper lung zone', 'left mid lung zone', 'left lower lung zone',
    'left hilar structures', 'left apical zone', 'left costophrenic angle',
    'left hemidiaphragm', 'trachea', 'spine', 'right clavicle',
    'left clavicle', 'aortic arch', 'mediastinum', 'upper mediastinum', 'svc',
    'cardiac silhouette', 'cavoatrial junction', 'right atrium', 'carina',
    'abdomen')
NUM_REGIONS = len(ANATOMICAL_REGIONS)
REGION_INDEX = {name: i for i, name in enumerate(ANATOMICAL_REGIONS)}
