from .evaluator_config import add_clinical_metrics  # noqa: F401
from .labelers import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
