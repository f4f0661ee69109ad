#!/usr/bin/env bash
# The attention study (issue 22, experiments/PROTOCOL.md): V0-V3 x 3 seeds as variable-rate models,
# the controls (V0-wide, per-λ models) and the placement sweep, then the test-split evaluation and
# the report. Resumable: a finished run is skipped, a killed one resumes (trainer.resume=true).
#   bash experiments/run_attention_study.sh                  # everything, in queue order
#   STAGE=train|evaluate|report bash experiments/run_attention_study.sh
#   STAGE=list bash experiments/run_attention_study.sh       # the queue: name, then its overrides
#   ONLY="v0_s1 v1_s1" bash experiments/run_attention_study.sh   # some runs of the queue
#   ROUND=2 bash experiments/run_attention_study.sh          # the second round (PROTOCOL.md, amendment 2)
#   ROUND=3 bash experiments/run_attention_study.sh          # the third round (PROTOCOL.md, amendment 3)
# Several invocations may run side by side (more lanes later): each run is claimed by one worker.
# Cost on the 2-core VM, measured: two lanes (OMP_NUM_THREADS=1 each) and nothing else, ~12 min per
# 3,000-step run, so ~2.6 h wall (5.2 core-hours) for the first 26 runs (30 with amendment 1); the evaluation ~3 min per run
# (a variable-rate run codes 7 λ at two budgets plus its ablations; ~1.3 h for all), the report ~12 min
# on one core (1,000 bootstrap replicates per statistic). ROUND=2: 12 runs of ~16 min (~1.6 h wall on
# two lanes), ten evaluation λ. ROUND=3: 9 runs (V0-V2 x 3 seeds) of 14-25 min (~1.65 h wall on two lanes).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
STAGE=${STAGE:-all}
LANES=${LANES:-2}
STEPS=${STEPS:-3000}
HOME_DIR=${SARCOMP_ROOT:-$PWD}  # data/ and outputs/ (sarcomp.config.project_root)
ROUND=${ROUND:-1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
LMBDAS="0.0003 0.001 0.003 0.01"
COMMON=(data=study trainer.max_steps=$STEPS trainer.keep_every=$((STEPS / 2))
        trainer.val_every=500 trainer.explain_at_val=false trainer.resume=true)
# V3's gain: LayerScale, chosen on validation by the pilot (experiments/PROTOCOL.md)
V3=(+model.attention.kwargs.gamma_init=0.1 +model.attention.kwargs.layer_scale=true)
case $ROUND in 1 | 2 | 3) ;; *) echo "ROUND must be 1, 2 or 3, got '$ROUND'" >&2; exit 2 ;; esac
if [[ $ROUND == 3 ]]; then  # PROTOCOL.md, amendment 3: V0-V2 x 3 seeds, the ladder two half-decades higher
    OUT=${OUT:-$HOME_DIR/outputs/attention_study_r3}
    RESULTS=experiments/results/attention_study_r3 SECTION=attention-study-r3
    VR=('model.lmbdas=[0.0001,0.0003,0.001,0.003,0.01,0.03,0.1,0.3]' model.lmbda=0.3 'model.channels=[48,64]')
    EVAL_LMBDAS="0.0001 0.0003 0.001 0.003 0.0055 0.01 0.017 0.03 0.1 0.3"
    GATES=(+model.attention.kwargs.unit_start=true)  # amendment 2's choice
elif [[ $ROUND == 2 ]]; then  # PROTOCOL.md, amendment 2: V0-V3 x 3 seeds over 0.1-2 bpp
    OUT=${OUT:-$HOME_DIR/outputs/attention_study_r2}
    RESULTS=experiments/results/attention_study_r2 SECTION=attention-study-r2
    VR=('model.lmbdas=[0.0001,0.0003,0.001,0.003,0.01,0.03]' model.lmbda=0.03 'model.channels=[48,64]')
    EVAL_LMBDAS="0.0001 0.0003 0.00055 0.001 0.0017 0.003 0.0055 0.01 0.017 0.03"
    GATES=(+model.attention.kwargs.unit_start=true)  # chosen by amendment 2's validation pilot
else
    OUT=${OUT:-$HOME_DIR/outputs/attention_study}
    RESULTS=experiments/results/attention_study SECTION=attention-study
    VR=('model.lmbdas=[0.0003,0.001,0.003,0.01]' model.lmbda=0.01 'model.channels=[48,64]')
    EVAL_LMBDAS="0.0003 0.00055 0.001 0.0017 0.003 0.0055 0.01"
    GATES=()
fi

exp() { [[ $1 == baseline ]] && echo experiment=recipe_cpu || echo "experiment=[recipe_cpu,$1]"; }
# the queue: name, then the overrides of that run
queue() {
    for seed in 1 2 3; do
        echo "v0_s$seed $(exp baseline) seed=$seed ${VR[*]}"
        echo "v1_s$seed $(exp cbam_bottleneck) seed=$seed ${VR[*]} ${GATES[*]-}"
        echo "v2_s$seed $(exp cbam_everywhere) seed=$seed ${VR[*]} ${GATES[*]-}"
        [[ $ROUND == 3 ]] && continue  # V3's second-round curve already spans the range
        echo "v3_s$seed $(exp selfattn_bottleneck) seed=$seed ${VR[*]} ${V3[*]}"
    done
    [[ $ROUND != 1 ]] && return 0  # the controls and the sweep stay with the first round
    echo "v0wide_s1 $(exp baseline) seed=1 ${VR[*]/%48,64]/48,65]}"
    for l in $LMBDAS; do
        echo "v0_l${l}_s1 $(exp baseline) seed=1 model.lmbda=$l model.channels=[48,64]"
        echo "v1_l${l}_s1 $(exp cbam_bottleneck) seed=1 model.lmbda=$l model.channels=[48,64]"
    done
    for v in cbam_encoder cbam_decoder se_bottleneck eca_bottleneck spatial_bottleneck; do
        echo "${v}_s1 $(exp $v) seed=1 ${VR[*]}"
    done
    for l in $LMBDAS; do  # PROTOCOL.md, amendment 1
        echo "v2_l${l}_s1 $(exp cbam_everywhere) seed=1 model.lmbda=$l model.channels=[48,64]"
    done
}

claim() {  # one worker per run, also across invocations: a claim is held while its worker lives
    local dir=$OUT/.claims/$1 pid
    mkdir -p "$OUT/.claims"
    if ! mkdir "$dir" 2>/dev/null; then
        pid=$(cat "$dir/pid" 2>/dev/null || true)
        [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && return 1
    fi
    echo $$ > "$dir/pid"
}
train_one() {  # name overrides...: skipped when its last kept checkpoint exists or another worker has it
    set -f  # overrides such as model.channels=[48,64] are not globs
    local name=$1; shift
    [[ -f $OUT/$name/checkpoints/step_$STEPS.pt ]] && return 0
    claim "$name" || return 0
    $PY train.py "$@" $COMMON_ARGS hydra.run.dir="$OUT/$name" > "$OUT/$name.log" 2>&1 || echo "FAILED $name (see $OUT/$name.log)"
}
export -f claim train_one
export PY OUT STEPS COMMON_ARGS="${COMMON[*]}"

if [[ $STAGE == list ]]; then
    set -f
    queue | sed "s|\$| $COMMON_ARGS|"
    exit 0
fi
if [[ $STAGE == all || $STAGE == train ]]; then
    [[ -f $HOME_DIR/data/synthetic_recipe/SHA256SUMS ]] || make data-recipe
    $PY scripts/make_sar_splits.py --out "$HOME_DIR/data/shared_sar_splits"
    mkdir -p "$OUT"
    set -f
    queue | while read -r name rest; do
        if [[ -z ${ONLY:-} || " $ONLY " == *" $name "* ]]; then echo "$name $rest"; fi
    done | xargs -P "$LANES" -L 1 bash -c 'train_one "$@"' _
    set +f
fi

if [[ $STAGE == all || $STAGE == evaluate ]]; then
    $PY experiments/attention_study.py evaluate "$OUT" --steps $((STEPS / 2)) $STEPS --lmbdas $EVAL_LMBDAS
    $PY experiments/attention_study.py collect "$OUT" --out $RESULTS
fi
if [[ $STAGE == all || $STAGE == evaluate || $STAGE == report ]]; then
    $PY experiments/attention_study.py report "$OUT" --steps $((STEPS / 2)) $STEPS --out $RESULTS --section $SECTION
fi
