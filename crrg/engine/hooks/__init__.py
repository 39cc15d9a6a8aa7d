from .checkpoint_hook import AtomicCheckpointHook
from .model_card_hook import RESEARCH_NOTICE, ModelCardHook, model_card_of

__all__ = [
    'AtomicCheckpointHook', 'ModelCardHook', 'model_card_of', 'RESEARCH_NOTICE'
]
