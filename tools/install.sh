#!/usr/bin/env bash
# Reproducible install of mm_iresnet and its OpenMMLab stack into ./.venv.
#
#   bash tools/install.sh          # idempotent: a second run takes seconds
#
# Installs the tested stack of constraints.txt (every version pinned there):
# virtualenv -> build tools -> CPU torch -> mmcv built from source with ops
# (tools/mmcv_wheel.sh: the built wheel is kept in a cache keyed by python,
# torch and mmcv versions, so it is compiled once per machine) -> this package
# with its det, action, test, deploy, seg, pose and lint extras.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MM_IRESNET_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
LOCK="$ROOT/constraints.txt"
pinned() { grep -i "^$1==" "$LOCK" | cut -d= -f3; }
TORCH_VERSION="$(pinned torch)"
MMCV_VERSION="$(pinned mmcv)"

log() { printf '[install] %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
PIPC=("${PIP[@]}" install -q -c "$LOCK")
# A local wheel folder (as on machines that carry the CPU torch wheel) is used when present.
if [ -d /opt/wheels ] && [ -z "${PIP_FIND_LINKS:-}" ]; then export PIP_FIND_LINKS=/opt/wheels; fi

# Fast path: nothing changed since the last complete install.
STAMP="$VENV/.mm_iresnet-install"
want="$(cat "$ROOT/pyproject.toml" "$LOCK" "$ROOT/tools/install.sh" "$ROOT/tools/mmcv_wheel.sh" \
    | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
   && "$PY" -c "import mm_iresnet, mmcv.ops, mmdet, mmaction, mmseg, mmpose" >/dev/null 2>&1; then
    log "up to date ($VENV)"
    exit 0
fi

log "build tools"
# setuptools: torch 2.13 needs >= 77.0.3; mmcv's setup.py and mmengine import pkg_resources (gone in 82).
"${PIPC[@]}" setuptools wheel ninja

log "torch==$TORCH_VERSION (CPU)"
"${PIPC[@]}" torch

if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" >/dev/null 2>&1; then
    wheel="$(bash "$ROOT/tools/mmcv_wheel.sh" "$PY" "$MMCV_VERSION")"
    "${PIP[@]}" install -q --no-deps "$wheel"
    # mmcv's own runtime requirements
    "${PIPC[@]}" addict packaging Pillow pyyaml yapf opencv-python
fi

# xtcocotools (pose extra): its cp311 wheel is built against numpy 1 and fails
# at import under numpy 2, so it is built from its sdist against this numpy.
if ! "$PY" -c "import xtcocotools.mask" >/dev/null 2>&1; then
    log "xtcocotools from its sdist (numpy 2)"
    "${PIPC[@]}" numpy Cython
    "${PIPC[@]}" --force-reinstall --no-deps --no-build-isolation \
        --no-binary xtcocotools xtcocotools
fi

log "mm_iresnet with its det, action, test, deploy, seg, pose and lint extras (versions of $LOCK)"
"${PIPC[@]}" -e "$ROOT[det,action,test,deploy,seg,pose,lint]"

# mmpose without its declared requirements, which would replace the CPU torch
# with a CUDA one plus torchvision (and chumpy does not build); the pose
# extra installs what it imports (pyproject.toml).
log "mmpose==$(pinned mmpose) without its declared requirements"
"${PIPC[@]}" --no-deps mmpose

"$PY" -c "import mmcv.ops, mmdet, mm_iresnet, mmaction.models, mmseg.models, mmpose.models; print('[install] ok: torch', __import__('torch').__version__, 'mmcv', __import__('mmcv').__version__, 'mmdet', mmdet.__version__)"
echo "$want" > "$STAMP"
