"""Train the byte-level BPE tokenizer of a config's tiny GPT-2 head.

Reads the region sentences of the config's training dataset and saves a
Hugging Face tokenizer to ``--out`` (point ``model.generator.tokenizer``
there).
"""
import argparse

from mmengine.config import Config
from mmengine.logging import print_log

from crrg.models.heads import train_report_tokenizer
from crrg.registry import DATASETS
from crrg.utils.setup_env import register_all_modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('config', help='config with a train_dataloader')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--vocab-size', type=int, default=2000)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    register_all_modules()
    cfg = Config.fromfile(args.config)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.pipeline = []
    dataset = DATASETS.build(dataset_cfg)
    sentences = [
        sentence for i in range(len(dataset))
        for sentence in dataset.get_data_info(i)['region_sentences']
        if sentence
    ]
    train_report_tokenizer(sentences, args.out, args.vocab_size)
    print_log(f'Tokenizer trained on {len(sentences)} sentences, saved to '
              f'{args.out}', logger='current')


if __name__ == '__main__':
    main()
