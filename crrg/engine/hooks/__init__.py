from .checkpoint_hook import AtomicCheckpointHook
from .model_card_hook import (RESEARCH_NOTICE, UNKNOWN_MODEL, ModelCardHook,
                              build_model_card, describe_model_card,
                              model_card_of, redact_path)

__all__ = [
    'AtomicCheckpointHook', 'ModelCardHook', 'build_model_card',
    'describe_model_card', 'model_card_of', 'redact_path', 'RESEARCH_NOTICE',
    'UNKNOWN_MODEL'
]
