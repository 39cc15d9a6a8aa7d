"""crrg's registries, children of mmdet's.

Every registry here has the scope ``crrg`` and a parent in mmdet (and so in
mmengine's root), which is what lets a ``default_scope='crrg'`` config build
mmdet components by bare name (``type='FasterRCNN'``) and components of any
other OpenMMLab library by scoped name (``type='mmpretrain.ResNet'``).
``locations`` lists the modules that register into each registry, so building
by name imports them on demand.

Importing this module also does the set-up crrg needs before any checkpoint
is loaded (the safe-globals mmengine's checkpoints need under torch>=2.6's
``weights_only`` loading): every crrg component is built through these
registries, so the set-up happens however crrg was imported, even where
``crrg/__init__.py`` never runs (a checkout folder named ``crrg`` on
``PYTHONPATH`` makes ``crrg`` a namespace package).
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOG_PROCESSORS as MMDET_LOG_PROCESSORS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import OPTIMIZERS as MMDET_OPTIMIZERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import \
    RUNNER_CONSTRUCTORS as MMDET_RUNNER_CONSTRUCTORS
from mmdet.registry import RUNNERS as MMDET_RUNNERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmdet.registry import \
    WEIGHT_INITIALIZERS as MMDET_WEIGHT_INITIALIZERS
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import Registry

from crrg.utils.checkpoint import allow_mmengine_checkpoint_types

allow_mmengine_checkpoint_types()

RUNNERS = Registry(
    'runner', parent=MMDET_RUNNERS, scope='crrg', locations=['crrg.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=MMDET_RUNNER_CONSTRUCTORS,
    scope='crrg',
    locations=['crrg.engine'])
LOOPS = Registry(
    'loop', parent=MMDET_LOOPS, scope='crrg', locations=['crrg.engine'])
HOOKS = Registry(
    'hook', parent=MMDET_HOOKS, scope='crrg', locations=['crrg.engine'])

DATASETS = Registry(
    'dataset', parent=MMDET_DATASETS, scope='crrg',
    locations=['crrg.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=MMDET_DATA_SAMPLERS,
    scope='crrg',
    locations=['crrg.datasets'])
TRANSFORMS = Registry(
    'transform',
    parent=MMDET_TRANSFORMS,
    scope='crrg',
    locations=['crrg.datasets.transforms'])

MODELS = Registry(
    'model', parent=MMDET_MODELS, scope='crrg', locations=['crrg.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper',
    parent=MMDET_MODEL_WRAPPERS,
    scope='crrg',
    locations=['crrg.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMDET_WEIGHT_INITIALIZERS,
    scope='crrg',
    locations=['crrg.models'])
TASK_UTILS = Registry(
    'task util',
    parent=MMDET_TASK_UTILS,
    scope='crrg',
    locations=['crrg.models'])

OPTIMIZERS = Registry(
    'optimizer',
    parent=MMDET_OPTIMIZERS,
    scope='crrg',
    locations=['crrg.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMDET_OPTIM_WRAPPERS,
    scope='crrg',
    locations=['crrg.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMDET_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='crrg',
    locations=['crrg.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMDET_PARAM_SCHEDULERS,
    scope='crrg',
    locations=['crrg.engine'])

METRICS = Registry(
    'metric',
    parent=MMDET_METRICS,
    scope='crrg',
    locations=['crrg.evaluation'])
EVALUATOR = Registry(
    'evaluator',
    parent=MMDET_EVALUATOR,
    scope='crrg',
    locations=['crrg.evaluation'])

VISUALIZERS = Registry(
    'visualizer',
    parent=MMDET_VISUALIZERS,
    scope='crrg',
    locations=['crrg.visualization'])
VISBACKENDS = Registry(
    'vis_backend',
    parent=MMDET_VISBACKENDS,
    scope='crrg',
    locations=['crrg.visualization'])
LOG_PROCESSORS = Registry(
    'log_processor',
    parent=MMDET_LOG_PROCESSORS,
    scope='crrg',
    locations=['crrg.engine'])
# mmdet has no function registry; this child of mmengine's lets configs with
# default_scope='crrg' find ``collate_fn=dict(type='default_collate')`` without
# mmengine's "failed to search registry with scope crrg" warning
FUNCTIONS = Registry('function', parent=MMENGINE_FUNCTIONS, scope='crrg')
