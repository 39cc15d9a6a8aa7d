"""Back-translation (crrg.datasets.back_translation) and its tool."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sentencepiece as spm
import torch
from transformers import MarianConfig, MarianMTModel, MarianTokenizer

from crrg.datasets.back_translation import (MarianTranslator,
                                            back_translate_image_texts,
                                            back_translate_scene_graphs,
                                            resolve_marian_checkpoint)
from crrg.utils import DataFormatError

REPO = Path(__file__).resolve().parents[2]
CORPUS = [
    'the lungs are clear', 'no pleural effusion', 'heart size is normal',
    'there is a small left pleural effusion', 'i polmoni sono liberi',
    'nessun versamento pleurico', 'the cardiac silhouette is enlarged'
]


def scene_graph(dicom_id, phrases_by_region):
    return {
        'image_id': dicom_id,
        'viewpoint': 'PA',
        'objects': [{
            'bbox_name': 'right lung',
            'original_x1': 10,
            'original_y1': 20,
            'original_x2': 100,
            'original_y2': 200
        }],
        'attributes': [{
            'bbox_name': region,
            'phrases': phrases,
            'attributes': [['nlp|yes|abnormal']]
        } for region, phrases in phrases_by_region.items()] + [{
            'bbox_name': 'spine',
            'attributes': []
        }],
        'relationships': []
    }


@pytest.fixture
def scene_graphs(tmp_path):
    root = tmp_path / 'scene_graph'
    (root / 'p10').mkdir(parents=True)
    graphs = {
        'a_SceneGraph.json':
        scene_graph('a', {
            'right lung': ['The lungs are clear.', 'No pleural effusion.'],
            'cardiac silhouette': ['Heart size is\n normal. ']
        }),
        'b_SceneGraph.json':
        scene_graph('b', {
            'left lung': ['No pleural effusion.', 'Small left effusion.'],
            'trachea': []
        }),
        'p10/c_SceneGraph.json':
        scene_graph('c', {'spine': ['Degenerative changes.']}),
    }
    for name, graph in graphs.items():
        (root / name).write_text(json.dumps(graph))
    (root / 'README.txt').write_text('not a scene graph')
    return root


def snapshot(root: Path) -> dict:
    return {p: p.read_bytes() for p in root.rglob('*') if p.is_file()}


def test_phrases_replaced_originals_kept(scene_graphs, tmp_path):
    before = snapshot(scene_graphs)
    calls = []

    def translate(texts):
        calls.append(list(texts))
        return [t.upper() for t in texts]

    out = tmp_path / 'bt'
    stats = back_translate_scene_graphs(
        str(scene_graphs), str(out), translate, chunk_size=2)
    assert snapshot(scene_graphs) == before  # input untouched
    written = sorted(str(p.relative_to(out)) for p in out.rglob('*.json'))
    assert written == [
        'a_SceneGraph.json', 'b_SceneGraph.json', 'p10/c_SceneGraph.json'
    ]
    # 'No pleural effusion.' is shared by a and b: translated once.
    flat = [t for call in calls for t in call]
    assert sorted(flat) == sorted(set(flat))
    assert len(flat) == 5 == stats['translated_phrases']
    assert stats['back_translated_files'] == 3 and stats['copied_files'] == 0

    original = json.loads((scene_graphs / 'a_SceneGraph.json').read_text())
    augmented = json.loads((out / 'a_SceneGraph.json').read_text())
    assert augmented['back_translated'] is True
    assert augmented['attributes'][0]['phrases'] == [
        'THE LUNGS ARE CLEAR.', 'NO PLEURAL EFFUSION.'
    ]
    assert augmented['attributes'][1]['phrases'] == ['HEART SIZE IS NORMAL.']
    for aug, orig in zip(augmented['attributes'], original['attributes']):
        if 'phrases' in orig:
            assert aug['original_phrases'] == orig['phrases']
        else:
            assert 'phrases' not in aug
    for key in ('objects', 'image_id', 'viewpoint', 'relationships'):
        assert augmented[key] == original[key]
    b = json.loads((out / 'b_SceneGraph.json').read_text())
    assert b['attributes'][0]['phrases'][0] == 'NO PLEURAL EFFUSION.'
    assert b['attributes'][1]['phrases'] == []


def test_max_sentences_copies_the_rest(scene_graphs, tmp_path):
    out = tmp_path / 'bt'
    stats = back_translate_scene_graphs(
        str(scene_graphs), str(out), lambda ts: [t + '!' for t in ts],
        max_sentences=3)
    # a has 3 distinct phrases (fits); b adds 1 new one (exceeds) -> copied,
    # and so is everything after it.
    assert stats['back_translated_files'] == 1
    assert stats['copied_files'] == 2
    a = json.loads((out / 'a_SceneGraph.json').read_text())
    b = json.loads((out / 'b_SceneGraph.json').read_text())
    c = json.loads((out / 'p10' / 'c_SceneGraph.json').read_text())
    assert a['back_translated'] is True
    assert a['attributes'][0]['phrases'][0] == 'The lungs are clear.!'
    assert b['back_translated'] is False and c['back_translated'] is False
    assert c['attributes'][0]['phrases'] == ['Degenerative changes.']


def test_empty_translation_keeps_original(scene_graphs, tmp_path):
    out = tmp_path / 'bt'
    stats = back_translate_scene_graphs(str(scene_graphs), str(out),
                                        lambda ts: [' ' for _ in ts])
    c = json.loads((out / 'p10' / 'c_SceneGraph.json').read_text())
    assert c['attributes'][0]['phrases'] == ['Degenerative changes.']
    assert stats['empty_translations'] == 5


def test_bad_inputs(scene_graphs, tmp_path):
    with pytest.raises(ValueError, match='is the input folder'):
        back_translate_scene_graphs(
            str(scene_graphs), str(scene_graphs), lambda ts: ts)
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='no \\*_SceneGraph.json'):
        back_translate_scene_graphs(str(empty), str(tmp_path / 'o'),
                                    lambda ts: ts)
    bad = tmp_path / 'bad'
    bad.mkdir()
    graph = scene_graph('d', {'spine': ['ok']})
    graph['attributes'][0]['phrases'] = 'not a list'
    (bad / 'd_SceneGraph.json').write_text(json.dumps(graph))
    with pytest.raises(DataFormatError, match='d_SceneGraph.json.*phrases'):
        back_translate_scene_graphs(str(bad), str(tmp_path / 'o'),
                                    lambda ts: ts)


def make_tiny_marian(directory: Path, seed: int) -> None:
    """A randomly initialised Marian model with tiny sentencepiece vocabs."""
    directory.mkdir(parents=True)
    corpus = directory / 'corpus.txt'
    corpus.write_text('\n'.join(CORPUS * 5))
    for name in ('source', 'target'):
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(directory / name),
            vocab_size=40,
            character_coverage=1.0,
            pad_id=-1,
            bos_id=-1,
            eos_id=1,
            unk_id=0,
            minloglevel=2)
        (directory / f'{name}.model').rename(directory / f'{name}.spm')
    pieces = spm.SentencePieceProcessor(
        model_file=str(directory / 'source.spm'))
    vocab = {pieces.id_to_piece(i): i for i in range(pieces.get_piece_size())}
    vocab['<pad>'] = len(vocab)
    (directory / 'vocab.json').write_text(json.dumps(vocab))
    tokenizer = MarianTokenizer(
        str(directory / 'source.spm'), str(directory / 'target.spm'),
        str(directory / 'vocab.json'))
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=vocab['<pad>'],
        eos_token_id=vocab['</s>'],
        decoder_start_token_id=vocab['<pad>'])
    torch.manual_seed(seed)
    MarianMTModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def test_tool_with_tiny_marian_models(scene_graphs, tmp_path):
    make_tiny_marian(tmp_path / 'en-it', seed=0)
    make_tiny_marian(tmp_path / 'it-en', seed=1)
    translator = MarianTranslator(str(tmp_path / 'en-it'), max_length=6)
    assert len(translator(['the lungs are clear', 'no effusion'])) == 2

    before = snapshot(scene_graphs)
    out = tmp_path / 'bt'
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'back_translate.py'),
         str(scene_graphs), str(out), '--src-model', str(tmp_path / 'en-it'),
         '--tgt-model', str(tmp_path / 'it-en'), '--batch-size', '2',
         '--max-length', '6'],
        env=dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(REPO),
                 HF_HUB_OFFLINE='1'),
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'back-translated 3 of 3 scene graphs' in proc.stdout + \
        proc.stderr
    assert snapshot(scene_graphs) == before
    for path in scene_graphs.rglob('*_SceneGraph.json'):
        original = json.loads(path.read_text())
        augmented = json.loads(
            (out / path.relative_to(scene_graphs)).read_text())
        assert augmented['back_translated'] is True
        for aug, orig in zip(augmented['attributes'],
                             original['attributes']):
            if 'phrases' not in orig:
                continue
            assert aug['original_phrases'] == orig['phrases']
            assert len(aug['phrases']) == len(orig['phrases'])
            assert all(isinstance(p, str) and p for p in aug['phrases'])


def test_missing_checkpoint_errors(tmp_path, monkeypatch):
    make_tiny_marian(tmp_path / 'partial', seed=0)
    (tmp_path / 'partial' / 'source.spm').unlink()
    with pytest.raises(FileNotFoundError) as error:
        resolve_marian_checkpoint(str(tmp_path / 'partial'))
    message = str(error.value)
    assert 'missing source.spm; looked in' in message
    assert 'HF_HUB_OFFLINE=1' in message and 'local directory' in message

    from huggingface_hub import constants
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', True)
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(tmp_path / 'hf'))
    with pytest.raises(FileNotFoundError) as error:
        resolve_marian_checkpoint('Helsinki-NLP/opus-mt-en-it')
    message = str(error.value)
    assert 'Helsinki-NLP/opus-mt-en-it' in message
    assert all(f in message for f in ('vocab.json', 'source.spm',
                                      'config.json'))
    assert str(tmp_path / 'hf') in message


def test_image_text_back_translations_feed_the_text_views(synthetic_twin,
                                                          tmp_path):
    """--image-text writes what MimicCxrImageTextDataset reads; the views
    then take back-translations (here: upper-cased texts)."""
    import random

    from crrg.registry import DATASETS, TRANSFORMS
    root, _ = synthetic_twin
    out = tmp_path / 'bt.jsonl'
    calls = []

    def translate(texts):
        calls.append(list(texts))
        return [t.upper() for t in texts]

    stats = back_translate_image_texts(
        str(root), str(out), translate, chunk_size=5)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    texts = [t for call in calls for t in call]
    assert len(texts) == len(set(texts)) == stats['translated_texts']
    assert all(len(call) <= 5 for call in calls)
    dataset = DATASETS.build(
        dict(type='MimicCxrImageTextDataset', data_root=str(root),
             back_translation_file=str(out)))
    assert stats['studies'] == len(records) == len(dataset)
    info = dataset.get_data_info(0)
    assert info['texts_augmented'] == [t.upper() for t in info['texts']]
    views = TRANSFORMS.build(dict(type='SampleTextViews'))
    random.seed(0)
    drawn = {t for _ in range(50) for t in views(dict(info))['texts']}
    assert drawn & set(info['texts']) and drawn & set(info['texts_augmented'])

    (tmp_path / 'bad.jsonl').write_text('{"study_id": 1}\n')
    with pytest.raises(DataFormatError, match='bad.jsonl: line 1'):
        DATASETS.build(dict(type='MimicCxrImageTextDataset',
                            data_root=str(root),
                            back_translation_file=str(tmp_path /
                                                      'bad.jsonl')))
