#!/usr/bin/env bash
# The floor environment: mm_iresnet installs into an existing OpenMMLab
# environment at the lowest versions pyproject.toml declares without changing
# it, and works there. Builds ENV (default ./.venv-existing) with the Python
# of requires-python's floor (3.9) from tools/ci/existing_env.txt: torch 2.1.2
# from PyPI, mmcv 2.1.0 compiled against it (tools/mmcv_wheel.sh caches the
# wheel: about 10 minutes on 2 cores the first time, seconds later), mmengine 0.10.4,
# mmdet 3.2.0, mmaction2 1.2.0, mmsegmentation 1.2.2, numpy 1.26.4, torchvision
# 0.16.2, and mmpose 1.3.2 without its declared requirements
# (tools/ci/existing_env_nodeps.txt). Then:
#   1. pip's plan for `pip install -e .[det,action,seg,pose]` changes no installed
#      distribution: it installs mm_iresnet, and adds only distributions the
#      environment lacks (gdown and what it needs);
#   2. after that install, every line of `pip freeze` is still there;
#   3. `pip check` is clean;
#   4. the backbone, parity, weights, trusted-resume, compile, export and
#      config-build tests pass there, and the segmentation and pose tests
#      (argument forms against mmseg's and mmpose's classes, their configs,
#      the demos' data and a few iterations of each demo);
#   5. the Faster R-CNN demo trains a few iterations with tools/train.py,
#      resumes with --resume, and tools/test.py evaluates its checkpoint.
# Set MM_IRESNET_FLOOR_PYTHON to choose the interpreter.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ENV="${1:-$ROOT/.venv-existing}"
REQS="$ROOT/tools/ci/existing_env.txt"
log() { printf '[existing-env] %s\n' "$*"; }
step() { log "$*"; SECONDS=0; }
took() { log "   ($SECONDS s)"; }

floor="$(sed -n 's/^requires-python = ">=\([0-9]*\.[0-9]*\)"$/\1/p' "$ROOT/pyproject.toml")"
[ -n "$floor" ] || { log "FAIL: no requires-python = \">=X.Y\" in pyproject.toml"; exit 1; }
python=""
for candidate in ${MM_IRESNET_FLOOR_PYTHON:-} "python$floor" \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$floor".*/bin/python; do
    if "$candidate" -c "import sys; sys.exit(f'{sys.version_info[0]}.{sys.version_info[1]}' != '$floor')" \
            >/dev/null 2>&1; then
        python="$candidate"; break
    fi
done
if [ -z "$python" ]; then
    log "FAIL: no Python $floor interpreter (the floor of requires-python) found:"
    log "      install one (e.g. pyenv install $floor) or set MM_IRESNET_FLOOR_PYTHON"
    exit 1
fi

step "building the environment with $("$python" --version) from tools/ci/existing_env.txt"
rm -rf "$ENV"
"$python" -m venv "$ENV"
PY="$ENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
# a current pip: the pip 23.0 that Python 3.9's venv bundles backtracks for
# minutes over gdown's requirements in step 1
"${PIP[@]}" install -q -c "$REQS" --upgrade pip
# torch and mmcv's build tools first, then the mmcv wheel, then the rest
"${PIP[@]}" install -q -c "$REQS" torch numpy setuptools wheel ninja
wheel="$(bash "$ROOT/tools/mmcv_wheel.sh" "$PY" "$(grep '^mmcv==' "$REQS" | cut -d= -f3)")"
"${PIP[@]}" install -q --no-deps "$wheel"
"${PIP[@]}" install -q -r "$REQS"
"${PIP[@]}" install -q --no-deps -r "$ROOT/tools/ci/existing_env_nodeps.txt"
"${PIP[@]}" freeze --all | grep -v '^pip==' | sort > "$ENV/freeze-before.txt"
took

step "1. pip's plan changes no installed distribution"
"${PIP[@]}" install -q --dry-run --report "$ENV/plan.json" -e "$ROOT[det,action,seg,pose]"
"$PY" - "$ENV/plan.json" "$ENV/freeze-before.txt" <<'PYEOF'
import json, re, sys
canon = lambda name: re.sub(r'[-_.]+', '-', name).lower()
installed = {canon(line.split('==')[0]) for line in open(sys.argv[2])
             if '==' in line}
plan = [(i['metadata']['name'], i['metadata']['version'])
        for i in json.load(open(sys.argv[1]))['install']]
print('[existing-env]    plan:', ', '.join(f'{n}=={v}' for n, v in plan))
changed = [f'{n}=={v}' for n, v in plan if canon(n) in installed]
sys.exit(f'[existing-env] FAIL: the install would change {changed}'
         if changed else 0)
PYEOF
took

step "2. installing changes no installed package"
"${PIP[@]}" install -q -e "$ROOT[det,action,seg,pose]"
"${PIP[@]}" freeze --all | grep -v '^pip==' | sort > "$ENV/freeze-after.txt"
if lost="$(comm -23 "$ENV/freeze-before.txt" "$ENV/freeze-after.txt")" && [ -n "$lost" ]; then
    printf '%s\n' "$lost"; log "FAIL: these installed versions changed (above)"; exit 1
fi
log "   added: $(comm -13 "$ENV/freeze-before.txt" "$ENV/freeze-after.txt" | grep -v '^-e \|^# Editable' | tr '\n' ' ')"
took

step "3. pip check"
# two known lines: decord 0.6.0 (mmaction2's video reader) installs and runs,
# but its wheel's metadata names a cp36 tag, which pip check reports; and
# mmpose, installed without its declared requirements, lacks chumpy (which
# does not build, and which no module of mmpose 1.3.2 imports)
problems="$("${PIP[@]}" check 2>&1 | grep -vx 'No broken requirements found\.' \
    | grep -vx 'decord 0\.6\.0 is not supported on this platform' \
    | grep -vx 'mmpose 1\.3\.2 requires chumpy, which is not installed\.' || true)"
if [ -n "$problems" ]; then
    printf '%s\n' "$problems"; log "FAIL: pip check (above)"; exit 1
fi
took

step "4. backbone, parity, weights, trusted-resume, compile, export, config-build, segmentation and pose tests"
"$PY" -c "import sys, torch, torchvision, mmcv, mmengine, mmdet, mmaction, mmseg, mmpose, numpy; print('[existing-env]    Python', sys.version.split()[0], 'torch', torch.__version__, 'torchvision', torchvision.__version__, 'mmcv', mmcv.__version__, 'mmengine', mmengine.__version__, 'mmdet', mmdet.__version__, 'mmaction2', mmaction.__version__, 'mmseg', mmseg.__version__, 'mmpose', mmpose.__version__, 'numpy', numpy.__version__)"
cd "$ROOT"
"$PY" -m pytest -q -p no:cacheprovider --durations=5 \
    tests/test_iresnet.py tests/test_iresnet3d.py tests/test_family.py \
    tests/test_shortcut_pool.py tests/test_official_parity.py \
    tests/test_weights.py tests/test_convert.py \
    tests/test_trusted_checkpoints.py tests/test_compile.py \
    tests/test_onnx.py tests/test_deploy.py tests/test_deps.py
# the configs build and run; mmaction2's whole-zoo walk (the slow tests
# here) is left to the main suite, which has the same mmaction2 release
"$PY" -m pytest -q -p no:cacheprovider -m "not slow" \
    tests/test_detection.py tests/test_recognition.py
# segmentation and pose: the argument forms against mmseg's and mmpose's own
# classes, the configs, the demos' data and two iterations of each demo
# through tools/train.py (the zoo walks are the main suite's: same releases)
"$PY" -m pytest -q -p no:cacheprovider -m "not slow" tests/test_segpose.py \
    tests/test_segpose_configs.py tests/test_seg_demo.py tests/test_pose_demo.py
"$PY" -m pytest -q -p no:cacheprovider -k through_the_train_tool \
    tests/test_seg_demo.py tests/test_pose_demo.py
took

step "5. the Faster R-CNN demo: train, --resume, tools/test.py"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
config="$ROOT/configs/demo/faster_rcnn_iresnet18_shapes.py"
# tiny data and sizes: the tests' overrides (tests/test_tools.py), one a line
opts() {
    "$PY" -c 'import sys; from tests.test_tools import tiny_overrides
print("\n".join(tiny_overrides(sys.argv[1], int(sys.argv[2]))))' "$work/shapes" "$1"
}
four="$(opts 4)" && six="$(opts 6)"
run() { (cd "$work" && PYTHONWARNINGS=ignore "$PY" "$@") > "$work/out.log" 2>&1 \
        || { tail -n 30 "$work/out.log"; log "FAIL: $*"; exit 1; }; }
mapfile -t first <<< "$four"
run "$ROOT/tools/train.py" "$config" --work-dir "$work/w" --cfg-options "${first[@]}"
mapfile -t more <<< "$six"
run "$ROOT/tools/train.py" "$config" --work-dir "$work/w" --resume --cfg-options "${more[@]}"
grep -q 'resumed epoch: 0, iter: 4' "$work/out.log" \
    || { tail -n 30 "$work/out.log"; log "FAIL: --resume did not resume at iteration 4"; exit 1; }
run "$ROOT/tools/test.py" "$config" "$work/w/iter_6.pth" --work-dir "$work/t" \
    --cfg-options "${more[@]}"
grep 'coco/bbox_mAP:' "$work/out.log" | tail -n 1 | sed 's/^/[existing-env]    /'
took
log "ok"
