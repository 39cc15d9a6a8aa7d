# The loader settings the dataset bases share: shuffled training, ordered
# validation and test, two workers, default_collate, the splits 'train',
# 'val' and 'test'. A dataset base inherits them and names only its dataset
# (and what it changes).
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(split='train'))
val_dataloader = dict(
    train_dataloader,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(split='val'))
test_dataloader = dict(val_dataloader, dataset=dict(split='test'))
