"""Train the tokenizer of a config's tiny, randomly initialised language model.

``--kind bpe`` (default): the byte-level BPE tokenizer of the tiny GPT-2
region head, trained on the region sentences of the config's training set.
``--kind wordpiece``: the WordPiece vocabulary of the tiny BERT text tower of
R-CLIP, trained on the training set's report texts. Saves a Hugging Face
tokenizer to ``--out``; point the config's ``tokenizer`` field there.
"""
import argparse

from mmengine.config import Config
from mmengine.logging import print_log

from crrg.models.utils import train_report_tokenizer, train_wordpiece_tokenizer
from crrg.registry import DATASETS
from crrg.utils.setup_env import register_all_modules

TEXT_FIELDS = ('region_sentences', 'texts', 'gt_report')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config with a train_dataloader')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--kind', choices=('bpe', 'wordpiece'), default='bpe')
    parser.add_argument('--vocab-size', type=int, default=2000)
    return parser.parse_args()


def training_texts(dataset) -> list:
    """Every non-empty text of the first of ``TEXT_FIELDS`` the data has."""
    first = dataset.get_data_info(0)
    field = next((f for f in TEXT_FIELDS if f in first), None)
    if field is None:
        raise KeyError(f'train_tokenizer: the dataset {type(dataset).__name__}'
                       f' has none of the text fields {TEXT_FIELDS}')
    texts = []
    for i in range(len(dataset)):
        value = dataset.get_data_info(i)[field]
        texts.extend([value] if isinstance(value, str) else value)
    return [t for t in texts if t]


def main() -> None:
    args = parse_args()
    register_all_modules()
    cfg = Config.fromfile(args.config)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.pipeline = []
    texts = training_texts(DATASETS.build(dataset_cfg))
    train = (train_wordpiece_tokenizer
             if args.kind == 'wordpiece' else train_report_tokenizer)
    train(texts, args.out, args.vocab_size)
    print_log(f'{args.kind} tokenizer trained on {len(texts)} texts, saved to '
              f'{args.out}', logger='current')


if __name__ == '__main__':
    main()
