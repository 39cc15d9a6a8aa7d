from .classifiers import *  # noqa: F401,F403
from .clip import *  # noqa: F401,F403
from .dense_heads import *  # noqa: F401,F403
from .detectors import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .report_generators import *  # noqa: F401,F403
from .task_modules import *  # noqa: F401,F403
