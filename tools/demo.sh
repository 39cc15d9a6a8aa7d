#!/usr/bin/env bash
# The main job on the embedded default: synthetic data in the real formats, tiny
# models, CPU. Sets up .venv when needed, then:
#   1. writes the synthetic MIMIC-CXR / Chest ImaGenome twin to data/synthetic
#   2. stage 1: trains and tests the tiny 29-region detector (COCO mAP, per-region IoU)
#   3. stage 2: trains and tests the region selector (selection F1)
#   4. stage 3: trains a tokenizer and the tiny GPT-2 region head, scores the
#      generated reports, then scores a constant-report baseline
#   5. writes explained reports (text, JSON, picture) for two test images
#   6. R-CLIP: trains the tiny CLIP on a larger MIMIC twin (data/synthetic_clip),
#      then the RSNA pneumonia linear probe (1% of the synthetic RSNA twin's
#      training split) on its frozen image tower and on a random one, the
#      R-CLIP's image-text retrieval Recall@K and its zero-shot RSNA pneumonia AUC
#   7. prints one table of every stage's headline figures (work_dirs/demo/summary.md)
#      and the command that opens the web demo on the trained model
# Everything goes to work_dirs/demo; rerunning retrains from scratch. Each command
# prints one line (what, how long, its test figures); its full output is in
# work_dirs/demo/logs/, whose end is shown when a command fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "${ROOT}/tools/setup_env.sh"
cd "${ROOT}"
PY=.venv/bin/python
# mmengine 0.10 imports pkg_resources (setuptools is pinned for it): its
# deprecation warning is not the reader's concern in the printed steps
export PYTHONWARNINGS='ignore:pkg_resources is deprecated:UserWarning'
DATA=data/synthetic
WORK=work_dirs/demo
LOGS="${WORK}/logs"
mkdir -p "${LOGS}"
step() { printf '\n==== %s ====\n' "$*"; }
# run NAME COMMAND...: COMMAND's output goes to logs/NAME.log; prints the time
# taken and the test metrics line mmengine logged, or the log's end on failure.
run() {
  local name="$1" start="${SECONDS}" log="${LOGS}/$1.log"
  shift
  printf '  %-34s ' "${name}"
  if "$@" > "${log}" 2>&1; then
    local took=$((SECONDS - start))
    printf 'done (%d min %02d s)\n' $((took / 60)) $((took % 60))
    grep -ho 'Epoch(test) \[[0-9]*/[0-9]*\] *.*' "${log}" | tail -n 1 |
      sed -e 's/^Epoch(test) \[[0-9]*\/[0-9]*\] */    test: /' \
        -e 's/ *data_time: .*$//' | cut -c1-400 || true
  else
    printf 'FAILED; the end of %s:\n' "${log}"
    tail -n 40 "${log}" | sed 's/^/    /'
    exit 1
  fi
}

echo "[demo] one line per command; its full output: ${LOGS}/<command>.log (tail -f to follow)"
if [[ ! -f "${DATA}/mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv.gz" ]]; then
  step "writing the synthetic twin to ${DATA}"
  run make_twin ${PY} tools/make_synthetic_dataset.py "${DATA}"
fi

DET_CFG=configs/region_detector/faster-rcnn_tiny_synthetic.py
SEL_CFG=configs/rrg/rrg-selector_tiny_synthetic.py
GEN_CFG=configs/rrg/rrg-generator_tiny_synthetic.py
last_ckpt() { cat "$1/last_checkpoint"; }

step "stage 1: region detector"
run detector_train ${PY} tools/train.py "${DET_CFG}" --work-dir "${WORK}/detector"
run detector_test ${PY} tools/test.py "${DET_CFG}" "$(last_ckpt "${WORK}/detector")" --work-dir "${WORK}/detector"

step "stage 2: region selector"
run selector_train ${PY} tools/train.py "${SEL_CFG}" --work-dir "${WORK}/selector" \
  --cfg-options "model.detector_checkpoint=$(last_ckpt "${WORK}/detector")"
run selector_test ${PY} tools/test.py "${SEL_CFG}" "$(last_ckpt "${WORK}/selector")" --work-dir "${WORK}/selector"

step "stage 3: sentence generator"
run generator_tokenizer ${PY} tools/train_tokenizer.py "${GEN_CFG}" --out "${WORK}/generator/tokenizer"
run generator_train ${PY} tools/train.py "${GEN_CFG}" --work-dir "${WORK}/generator" \
  --cfg-options "load_from=$(last_ckpt "${WORK}/selector")" \
  "model.generator.tokenizer=${WORK}/generator/tokenizer"
run generator_test ${PY} tools/test.py "${GEN_CFG}" "$(last_ckpt "${WORK}/generator")" --work-dir "${WORK}/generator" \
  --out "${WORK}/generator/predictions.pkl" --cfg-options "model.generator.tokenizer=${WORK}/generator/tokenizer"

step "baseline: the most common training report for every test image"
run constant_baseline ${PY} tools/constant_report_baseline.py "${GEN_CFG}" --out "${WORK}/constant_baseline.json"

step "explained reports for two test images"
mapfile -t IMAGES < <(${PY} - "${DATA}" <<'PYEOF'
import sys
import pandas as pd
root = sys.argv[1]
split = pd.read_csv(f'{root}/mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv.gz', dtype={'dicom_id': str})
test = split[split['split'] == 'test'].head(2)
for row in test.itertuples():
    s = f'p{row.subject_id}'
    print(f'{root}/mimic-cxr-jpg/files/{s[:3]}/{s}/s{row.study_id}/{row.dicom_id}.jpg')
PYEOF
)
${PY} tools/infer.py "${GEN_CFG}" "$(last_ckpt "${WORK}/generator")" "${IMAGES[@]}" \
  --out "${WORK}/infer" --cfg-options "model.generator.tokenizer=${WORK}/generator/tokenizer"

step "R-CLIP pre-training, the 1% RSNA linear probe vs a random encoder, zero-shot RSNA"
CLIP_DATA=data/synthetic_clip
RSNA_DATA=data/synthetic_rsna
CLIP_CFG=configs/rclip/rclip_tiny_synthetic.py
PROBE_CFG=configs/linear_probe/probe_tiny_rclip_rsna-1pct_synthetic.py
if [[ ! -f "${CLIP_DATA}/mimic-cxr-jpg/mimic-cxr-2.0.0-split.csv.gz" ]]; then
  run make_clip_twin ${PY} tools/make_synthetic_dataset.py "${CLIP_DATA}" --num-train 1000 \
    --num-validate 20 --num-test 20 --seed 7
fi
if [[ ! -f "${RSNA_DATA}/stage_2_train_labels.csv" ]]; then
  run make_rsna_twin ${PY} tools/make_synthetic_rsna.py "${RSNA_DATA}" --num-patients 3000 --image-size 160
fi
run rclip_tokenizer ${PY} tools/train_tokenizer.py "${CLIP_CFG}" --kind wordpiece --out "${WORK}/rclip/tokenizer"
run rclip_train ${PY} tools/train.py "${CLIP_CFG}" --work-dir "${WORK}/rclip" \
  --cfg-options "model.text_encoder.tokenizer=${WORK}/rclip/tokenizer"
for INIT in rclip random; do
  if [[ "${INIT}" == rclip ]]; then
    OPT="model.backbone.init_cfg.checkpoint=$(last_ckpt "${WORK}/rclip")"
  else
    OPT="model.backbone.init_cfg=None"
  fi
  run "probe_${INIT}_train" ${PY} tools/train.py "${PROBE_CFG}" --work-dir "${WORK}/probe_${INIT}" --cfg-options "${OPT}"
  run "probe_${INIT}_test" ${PY} tools/test.py "${PROBE_CFG}" "$(last_ckpt "${WORK}/probe_${INIT}")" \
    --work-dir "${WORK}/probe_${INIT}" --cfg-options "${OPT}"
done
run rclip_retrieval_test ${PY} tools/test.py "${CLIP_CFG}" "$(last_ckpt "${WORK}/rclip")" \
  --work-dir "${WORK}/rclip" --cfg-options "model.text_encoder.tokenizer=${WORK}/rclip/tokenizer"
ZS_CFG=configs/rclip/rclip_tiny_zero-shot_rsna_synthetic.py
run rclip_zero_shot_test ${PY} tools/test.py "${ZS_CFG}" "$(last_ckpt "${WORK}/rclip")" \
  --work-dir "${WORK}/rclip_zero_shot" \
  --cfg-options "model.text_encoder.tokenizer=${WORK}/rclip/tokenizer"

step "summary"
DEMO_CMD="${PY} tools/demo_app.py  # serves the trained models on http://127.0.0.1:7860"
${PY} tools/demo_summary.py "${WORK}" --demo-command "${DEMO_CMD}"
echo "full logs: ${LOGS}/"
