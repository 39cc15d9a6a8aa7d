# cdl_tiny_iu-xray_synthetic.py with L_dir on the free-running soft report:
# the decoder is fed its own expected embeddings, as when it generates, so
# L_dir sees the report the model would write rather than the teacher-forced
# one (about 3x slower per training step on CPU).
_base_ = ['./cdl_tiny_iu-xray_synthetic.py']
model = dict(soft_decoding='free_running')
