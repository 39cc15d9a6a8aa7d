"""Back-translation of report text (CRRG-CLIP's augmentation): Marian
translators and the offline passes over Chest ImaGenome scene graphs and
R-CLIP's report sections.

CRRG-CLIP augments report text by translating it to Italian and back with
Helsinki-NLP's Marian models. This is an offline step
(``tools/back_translate.py``): :func:`back_translate_scene_graphs` reads a
Chest ImaGenome scene-graph folder (``<dicom_id>_SceneGraph.json`` files,
any sub-folders) and writes a copy with the same layout in which every
phrase of ``attributes[].phrases`` (the per-region report sentences) is
replaced by its back-translation. A region-guided dataset uses the copy by
pointing its ``scene_graph_dir`` at it; nothing else changes.

In each written scene graph:

- ``attributes[k].phrases``: the back-translated phrases (same count and
  order; a phrase whose translation comes back empty keeps its original);
- ``attributes[k].original_phrases``: the phrases as they were;
- ``back_translated`` (top level): True when the file's phrases were
  translated, False when it was copied unchanged because ``max_sentences``
  was reached.

:func:`back_translate_image_texts` writes the back-translations of the
FINDINGS / IMPRESSION texts R-CLIP trains on, which
``MimicCxrImageTextDataset(back_translation_file=...)`` reads.
"""
import json
import os.path as osp
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from mmengine.logging import print_log
from mmengine.utils import ProgressBar

from crrg.structures import normalize_whitespace
from crrg.utils import DataFormatError

SCENE_GRAPH_SUFFIX = '_SceneGraph.json'
MARIAN_FILES = ('config.json', 'source.spm', 'target.spm', 'vocab.json')
MARIAN_WEIGHTS = ('model.safetensors', 'pytorch_model.bin')


def _missing_marian_files(directory: str) -> list[str]:
    """The Marian checkpoint files ``directory`` lacks."""
    missing = [
        f for f in MARIAN_FILES if not osp.isfile(osp.join(directory, f))
    ]
    if not any(osp.isfile(osp.join(directory, f)) for f in MARIAN_WEIGHTS):
        missing.append(' or '.join(MARIAN_WEIGHTS))
    return missing


def _missing_checkpoint_error(name: str, missing: Sequence[str],
                              where: str) -> FileNotFoundError:
    from crrg.models.utils.hf_loading import missing_checkpoint_error
    return missing_checkpoint_error(
        'MarianTranslator', name,
        list(MARIAN_FILES) + [' or '.join(MARIAN_WEIGHTS)],
        FileNotFoundError(f'missing {", ".join(missing)}; looked in {where}'))


def resolve_marian_checkpoint(name_or_path: str) -> str:
    """Find the local directory of a Marian checkpoint.

    Args:
        name_or_path (str): A local directory, or a Hugging Face model id
            (e.g. ``Helsinki-NLP/opus-mt-en-it``) looked up in the cache, or
            downloaded unless ``HF_HUB_OFFLINE=1``.

    Returns:
        str: A directory holding config, weights, ``source.spm``,
        ``target.spm`` and ``vocab.json``.

    Raises:
        FileNotFoundError: Listing the missing files and how to provide them.
    """
    if osp.isdir(name_or_path):
        missing = _missing_marian_files(name_or_path)
        if missing:
            raise _missing_checkpoint_error(name_or_path, missing,
                                            f'directory {name_or_path}')
        return name_or_path

    from huggingface_hub import constants, snapshot_download
    offline = constants.HF_HUB_OFFLINE
    try:
        directory = snapshot_download(
            name_or_path,
            allow_patterns=list(MARIAN_FILES + MARIAN_WEIGHTS) +
            ['tokenizer_config.json', 'generation_config.json'],
            local_files_only=offline)
    except Exception as exc:  # hub, network and cache errors alike
        where = f'the Hugging Face cache ({constants.HF_HUB_CACHE})'
        if not offline:
            where += f' and the hub ({type(exc).__name__})'
        raise _missing_checkpoint_error(
            name_or_path,
            list(MARIAN_FILES) + [' or '.join(MARIAN_WEIGHTS)],
            where) from exc
    missing = _missing_marian_files(directory)
    if missing:
        raise _missing_checkpoint_error(name_or_path, missing,
                                        f'cached snapshot {directory}')
    return directory


class MarianTranslator:
    """Batched translation with a Marian model (transformers).

    Args:
        model (str): Local directory or Hugging Face id of a Marian model,
            e.g. ``Helsinki-NLP/opus-mt-en-it``.
        batch_size (int): Sentences per ``generate`` call. Defaults to 16.
        num_beams (int): Beam width; 1 is greedy decoding. Defaults to 1.
        max_length (int): Maximum number of tokens of an input (longer ones
            are truncated) and of an output. Defaults to 256.
        device (str): Torch device. Defaults to 'cpu'.
    """

    def __init__(self,
                 model: str,
                 batch_size: int = 16,
                 num_beams: int = 1,
                 max_length: int = 256,
                 device: str = 'cpu') -> None:
        from transformers import MarianMTModel, MarianTokenizer
        directory = resolve_marian_checkpoint(model)
        self.tokenizer = MarianTokenizer.from_pretrained(directory)
        self.model = MarianMTModel.from_pretrained(directory).to(device).eval()
        self.batch_size = batch_size
        self.num_beams = num_beams
        self.max_length = max_length
        self.device = device

    @torch.no_grad()
    def __call__(self, texts: Sequence[str]) -> list[str]:
        """Translate ``texts``.

        Args:
            texts (Sequence[str]): N source sentences.

        Returns:
            list[str]: N translations, whitespace-normalised.
        """
        outputs = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start:start + self.batch_size])
            encoded = self.tokenizer(
                batch,
                return_tensors='pt',
                padding=True,
                truncation=True,
                max_length=self.max_length).to(self.device)
            generated = self.model.generate(
                **encoded,
                num_beams=self.num_beams,
                do_sample=False,
                max_new_tokens=self.max_length)
            outputs.extend(
                normalize_whitespace(text)
                for text in self.tokenizer.batch_decode(
                    generated, skip_special_tokens=True))
        return outputs


class MarianBackTranslator:
    """Translate to a pivot language and back, e.g. en -> it -> en.

    Args:
        src_model (str): Marian model from the source to the pivot language.
            Defaults to 'Helsinki-NLP/opus-mt-en-it'.
        tgt_model (str): Marian model from the pivot back to the source
            language. Defaults to 'Helsinki-NLP/opus-mt-it-en'.
        batch_size (int): Sentences per ``generate`` call. Defaults to 16.
        num_beams (int): Beam width; 1 is greedy decoding. Defaults to 1.
        max_length (int): Maximum tokens in and out. Defaults to 256.
        device (str): Torch device. Defaults to 'cpu'.
    """

    def __init__(self,
                 src_model: str = 'Helsinki-NLP/opus-mt-en-it',
                 tgt_model: str = 'Helsinki-NLP/opus-mt-it-en',
                 batch_size: int = 16,
                 num_beams: int = 1,
                 max_length: int = 256,
                 device: str = 'cpu') -> None:
        self.forward = MarianTranslator(src_model, batch_size, num_beams,
                                        max_length, device)
        self.backward = MarianTranslator(tgt_model, batch_size, num_beams,
                                         max_length, device)

    def __call__(self, texts: Sequence[str]) -> list[str]:
        """Back-translate N sentences; returns N sentences."""
        return self.backward(self.forward(texts))


def _read_scene_graph(path: Path) -> dict:
    """Load a scene graph and check its ``attributes[].phrases``."""
    try:
        with open(path, encoding='utf-8') as f:
            graph = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise DataFormatError(
            f'{path}: cannot read the scene graph ({exc}); re-extract it from '
            'the Chest ImaGenome archive') from exc
    attributes = graph.get('attributes', [])
    if not isinstance(attributes, list):
        raise DataFormatError(
            f'{path}: field "attributes" should be a list of per-region '
            f'records, got {type(attributes).__name__}')
    for k, record in enumerate(attributes):
        phrases = record.get('phrases', [])
        if not isinstance(phrases, list) or not all(
                isinstance(p, str) for p in phrases):
            raise DataFormatError(
                f'{path}: attributes[{k}] (bbox_name '
                f'{record.get("bbox_name")!r}) field "phrases" should be a '
                'list of strings')
    return graph


def _phrases(graph: dict) -> list[str]:
    """The graph's non-empty phrases, whitespace-normalised."""
    texts = (normalize_whitespace(p) for record in graph.get('attributes', [])
             for p in record.get('phrases', []))
    return [t for t in texts if t]


def _write_json(graph: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(graph, f)


def back_translate_scene_graphs(
        in_dir: str,
        out_dir: str,
        translate: Callable[[list[str]], list[str]],
        max_sentences: int | None = None,
        chunk_size: int = 256) -> dict:
    """Write a copy of a scene-graph folder with back-translated phrases.

    Identical phrases (frequent in MIMIC-CXR reports) are translated once.
    Files are processed in sorted order; when ``max_sentences`` is set, a file
    whose new phrases would exceed the budget, and every later one, is copied
    unchanged with ``back_translated: False``, so the copy is always a
    complete scene-graph folder.

    Args:
        in_dir (str): Folder of ``*_SceneGraph.json`` files (searched
            recursively). Never modified.
        out_dir (str): Folder to write, same relative layout; must differ
            from ``in_dir``.
        translate (Callable[[list[str]], list[str]]): Maps N sentences to N
            sentences, e.g. a :class:`MarianBackTranslator`.
        max_sentences (int, optional): Maximum number of distinct phrases to
            translate; None translates all. Defaults to None.
        chunk_size (int): Distinct new phrases (or scene graphs) gathered
            before each call of ``translate``. Defaults to 256.

    Returns:
        dict: ``files``, ``back_translated_files``, ``copied_files``,
        ``translated_phrases`` (distinct) and ``empty_translations`` (kept
        as the original phrase).
    """
    in_root, out_root = Path(in_dir), Path(out_dir)
    if in_root.resolve() == out_root.resolve():
        raise ValueError(f'output folder {out_dir} is the input folder; the '
                         'augmented copy needs a new folder')
    files = sorted(in_root.rglob(f'*{SCENE_GRAPH_SUFFIX}'))
    if not files:
        raise FileNotFoundError(
            f'{in_dir} holds no *{SCENE_GRAPH_SUFFIX} file; pass the Chest '
            'ImaGenome scene graph folder (silver_dataset/scene_graph)')

    cache: dict[str, str] = {}
    pending: dict[str, None] = {}
    pending_files: list[tuple[Path, dict]] = []
    stats = {
        'files': len(files),
        'back_translated_files': 0,
        'copied_files': 0,
        'translated_phrases': 0,
        'empty_translations': 0}

    def flush() -> None:
        texts = list(pending)
        translations = translate(texts) if texts else []
        if len(translations) != len(texts):
            raise RuntimeError(f'translate returned {len(translations)} '
                               f'sentences for {len(texts)}')
        for text, translation in zip(texts, translations):
            if not translation.strip():
                stats['empty_translations'] += 1
                translation = text
            cache[text] = translation
        stats['translated_phrases'] += len(texts)
        for path, graph in pending_files:
            for record in graph.get('attributes', []):
                if 'phrases' not in record:
                    continue
                record['original_phrases'] = record['phrases']
                record['phrases'] = [
                    cache.get(normalize_whitespace(p), p)
                    for p in record['phrases']
                ]
            graph['back_translated'] = True
            _write_json(graph, out_root / path.relative_to(in_root))
            stats['back_translated_files'] += 1
        pending.clear()
        pending_files.clear()

    progress = ProgressBar(len(files))
    budget_reached = False
    for path in files:
        graph = _read_scene_graph(path)
        new = [
            p for p in dict.fromkeys(_phrases(graph))
            if p not in cache and p not in pending
        ]
        if max_sentences is not None and (
                budget_reached or stats['translated_phrases'] +
                len(pending) + len(new) > max_sentences):
            budget_reached = True
            graph['back_translated'] = False
            _write_json(graph, out_root / path.relative_to(in_root))
            stats['copied_files'] += 1
        else:
            pending.update(dict.fromkeys(new))
            pending_files.append((path, graph))
            if len(pending) >= chunk_size or len(pending_files) >= chunk_size:
                flush()
        progress.update()
    flush()
    print_log(
        f'back-translated {stats["back_translated_files"]} of '
        f'{stats["files"]} scene graphs ({stats["translated_phrases"]} '
        f'distinct phrases, {stats["empty_translations"]} empty translations '
        f'kept as the original) into {out_dir}; '
        f'{stats["copied_files"]} copied unchanged',
        logger='current')
    return stats

def back_translate_image_texts(
        data_root: str,
        out_file: str,
        translate: Callable[[list[str]], list[str]],
        splits: Sequence[str] = ('train', ),
        chunk_size: int = 256) -> dict:
    """Back-translate the texts R-CLIP trains on (CXR-CLIP's augmentation).

    Reads the studies of :class:`crrg.datasets.MimicCxrImageTextDataset`
    (FINDINGS and IMPRESSION of each report) and writes one JSON line per
    study, ``{"study_id": int, "back_translations": {text: translation}}``,
    which the dataset's ``back_translation_file`` reads. Identical texts are
    translated once; an empty translation keeps the original text.

    Args:
        data_root (str): The dataset's root (``mimic-cxr-jpg/`` and
            ``mimic-cxr-reports/``).
        out_file (str): JSON-lines file to write.
        translate (Callable[[list[str]], list[str]]): N texts to N texts.
        splits (Sequence[str]): Splits to translate. Defaults to ('train',).
        chunk_size (int): Texts per call of ``translate``. Defaults to 256.

    Returns:
        dict: ``studies``, ``translated_texts`` (distinct) and
        ``empty_translations``.
    """
    from crrg.datasets import MimicCxrImageTextDataset
    studies = []
    for split in splits:
        dataset = MimicCxrImageTextDataset(
            data_root=data_root, split=split, pipeline=[])
        studies.extend(
            dataset.get_data_info(i) for i in range(len(dataset)))
    texts = list(dict.fromkeys(t for s in studies for t in s['texts']))
    cache, empty = {}, 0
    progress = ProgressBar(len(texts))
    for start in range(0, len(texts), chunk_size):
        chunk = texts[start:start + chunk_size]
        translations = translate(chunk)
        if len(translations) != len(chunk):
            raise RuntimeError(f'translate returned {len(translations)} '
                               f'texts for {len(chunk)}')
        for text, translation in zip(chunk, translations):
            if not translation.strip():
                empty += 1
                translation = text
            cache[text] = translation
        progress.update(len(chunk))
    Path(out_file).parent.mkdir(parents=True, exist_ok=True)
    with open(out_file, 'w', encoding='utf-8') as f:
        for study in studies:
            f.write(json.dumps(dict(
                study_id=int(study['study_id']),
                back_translations={t: cache[t] for t in study['texts']})) +
                    '\n')
    print_log(
        f'back-translated {len(texts)} distinct texts of {len(studies)} '
        f'studies ({empty} empty translations kept as the original) into '
        f'{out_file}', logger='current')
    return dict(studies=len(studies), translated_texts=len(texts),
                empty_translations=empty)
