# The baseline of cdl_tiny_iu-xray_synthetic.py: the same model, data, seed
# and number of steps, trained with L_CE only (the CLIP only scores the
# generated reports' directional distance).
_base_ = ['./cdl_tiny_iu-xray_synthetic.py']
model = dict(dir_loss_weight=0.0)
