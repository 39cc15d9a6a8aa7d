"""Back-translate the region phrases of Chest ImaGenome scene graphs, or the
report sections R-CLIP trains on (``--image-text``).

Writes a copy of the scene-graph folder ANN_IN into ANN_OUT (same layout)
whose ``attributes[].phrases`` are translated to a pivot language and back
(en -> it -> en by default, as CRRG-CLIP does), with the originals kept in
``attributes[].original_phrases`` and a top-level ``back_translated`` flag.
Point a dataset's ``scene_graph_dir`` at ANN_OUT to train on the copy.

Example::

    HF_HUB_OFFLINE=1 python tools/back_translate.py \
        data/chest-imagenome/silver_dataset/scene_graph \
        data/chest-imagenome/silver_dataset/scene_graph_bt --batch-size 32
    # R-CLIP's text views (CXR-CLIP): FINDINGS / IMPRESSION of every study
    HF_HUB_OFFLINE=1 python tools/back_translate.py --image-text \
        data/mimic data/mimic/back_translations_train.jsonl
    # then train with train_dataloader.dataset.back_translation_file=...

The library is :mod:`crrg.datasets.back_translation`; this tool parses the
arguments and calls it.
"""
import argparse

from mmengine.logging import MMLogger

from crrg.datasets.back_translation import (MarianBackTranslator,
                                            back_translate_image_texts,
                                            back_translate_scene_graphs)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Back-translate Chest ImaGenome scene-graph phrases')
    parser.add_argument(
        'ann_in',
        help='scene graph folder to read (with --image-text: the MIMIC-CXR '
        'data root of the image-text dataset)')
    parser.add_argument(
        'ann_out',
        help='folder to write the copy into (with --image-text: the '
        'JSON-lines file for the dataset\'s back_translation_file)')
    parser.add_argument(
        '--image-text',
        action='store_true',
        help='back-translate the report sections R-CLIP trains on instead '
        'of scene-graph phrases')
    parser.add_argument(
        '--splits',
        nargs='+',
        default=['train'],
        help='with --image-text: splits to translate (default: train)')
    parser.add_argument(
        '--src-model',
        default='Helsinki-NLP/opus-mt-en-it',
        help='Marian model (hub id or local dir) into the pivot language')
    parser.add_argument(
        '--tgt-model',
        default='Helsinki-NLP/opus-mt-it-en',
        help='Marian model (hub id or local dir) back from the pivot')
    parser.add_argument(
        '--batch-size', type=int, default=16, help='sentences per batch')
    parser.add_argument(
        '--num-beams',
        type=int,
        default=1,
        help='beam width (1 = greedy decoding)')
    parser.add_argument(
        '--max-length',
        type=int,
        default=256,
        help='maximum tokens per input and per output sentence')
    parser.add_argument(
        '--max-sentences',
        type=int,
        default=None,
        help='translate at most this many distinct phrases; later scene '
        'graphs are copied unchanged (back_translated: false)')
    parser.add_argument('--device', default='cpu', help='torch device')
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Run the back-translation; returns the statistics."""
    args = parse_args(argv)
    MMLogger.get_instance('crrg-back-translate', log_level='INFO')
    translator = MarianBackTranslator(
        src_model=args.src_model,
        tgt_model=args.tgt_model,
        batch_size=args.batch_size,
        num_beams=args.num_beams,
        max_length=args.max_length,
        device=args.device)
    chunk_size = max(args.batch_size * 8, 64)
    if args.image_text:
        return back_translate_image_texts(
            args.ann_in, args.ann_out, translator, splits=args.splits,
            chunk_size=chunk_size)
    return back_translate_scene_graphs(
        args.ann_in, args.ann_out, translator,
        max_sentences=args.max_sentences, chunk_size=chunk_size)


if __name__ == '__main__':
    main()
