#!/usr/bin/env bash
# The V0-V3 plan and the CBAM placement sweep at the documented smoke budget, end to end:
# data, 30 trainings (two sweeps side by side), evaluation on the synthetic test split and on
# ../shared/sar, and the tables in experiments/results/. See experiments/README.md.
#   bash experiments/run_plan.sh            # everything
#   STAGE=evaluate bash experiments/run_plan.sh   # only evaluation + tables (runs already trained)
#   STAGE=tables   bash experiments/run_plan.sh   # only the tables
# Environment: PY (python, default .venv/bin/python), OUT (sweep root, default outputs/train/multiruns),
# SAR (real rasters, default ../shared/sar), OMP_NUM_THREADS (default 1: one thread per sweep).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-outputs/train/multiruns}
SAR=${SAR:-../shared/sar}
STAGE=${STAGE:-all}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

B="debug=demo trainer.max_steps=400 trainer.val_every=200"
S=$OUT/plan_seeds R=$OUT/plan_rd P=$OUT/plan_placement
PLAN=experiment=baseline,cbam_bottleneck,cbam_everywhere,selfattn_bottleneck

if [[ $STAGE == all ]]; then
    # stops with a message if data/synthetic holds files the generator would not write now
    $PY scripts/make_synthetic.py --root data/synthetic
    { $PY train.py -m seed=1,2,3 $PLAN $B hydra.sweep.dir=$S
      $PY train.py -m seed=1,2,3 experiment=cbam_encoder,cbam_decoder $B hydra.sweep.dir=$P; } &
    side=$!
    $PY train.py -m +hparams_search=rd_sweep model.lmbda=0.0035,0.0067,0.025 seed=1 $PLAN $B \
        hydra.sweep.dir=$R
    wait $side
fi

if [[ $STAGE == all || $STAGE == evaluate ]]; then
    G="data=geotiff data.root=$SAR data.band_specs=configs/bands/shared_sar.yaml data.tile_size=128 data.stride=128"
    { $PY scripts/evaluate.py run_dir=$S
      $PY scripts/evaluate.py run_dir=$P classic.sweep=false
      $PY scripts/evaluate.py run_dir=$R classic.sweep=false 'classic.match_codecs=[jpeg2000]'; } &
    side=$!
    $PY scripts/evaluate.py run_dir=$S $G 'classic.match_codecs=[jpeg,jpeg2000]'
    $PY scripts/evaluate.py run_dir=$P $G 'classic.match_codecs=[jpeg,jpeg2000]' classic.sweep=false
    $PY scripts/evaluate.py run_dir=$R $G classic.sweep=false 'classic.match_codecs=[jpeg2000]'
    wait $side
fi

$PY scripts/compare.py $S $R $P --no-evaluate --out experiments/results/synthetic.md \
    --tensorboard $S/compare
$PY scripts/compare.py $S $R $P --no-evaluate --tag sar --out experiments/results/shared_sar.md \
    --tensorboard $S/compare_sar
