#!/usr/bin/env bash
# The mmcv wheel, with its ops, for the torch of an environment: built from
# source once and kept in a cache keyed by python, torch and mmcv versions
# (pip's own cache keys mmcv by name and version only, so it would hand a
# wheel built for another torch). Prints the wheel's path.
#
#   bash tools/mmcv_wheel.sh PYTHON MMCV_VERSION
#
# PYTHON is the environment's interpreter; torch, setuptools (< 82: mmcv's
# setup.py imports pkg_resources), wheel and ninja must be installed in it.
# Used by tools/install.sh and tools/ci/check_existing_env.sh.
set -euo pipefail

PY="${1:?usage: mmcv_wheel.sh PYTHON MMCV_VERSION}"
MMCV_VERSION="${2:?usage: mmcv_wheel.sh PYTHON MMCV_VERSION}"
CACHE="${MM_IRESNET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mm_iresnet}"

tag="$("$PY" -c 'import sys, torch; print(f"cp{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__}".replace("+", "_"))')"
WHEELS="$CACHE/wheels/$tag-mmcv$MMCV_VERSION"
if ! ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    printf '[mmcv] building mmcv==%s with ops for %s (about 10 minutes on 2 cores)\n' \
        "$MMCV_VERSION" "$tag" >&2
    rm -rf "$WHEELS.tmp" && mkdir -p "$WHEELS.tmp"
    # --no-build-isolation: the build must see this torch (an isolated one
    # lacks it and would build mmcv without ops)
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" "$PY" -m pip \
        --disable-pip-version-check wheel -q --no-deps --no-build-isolation \
        --no-cache-dir -w "$WHEELS.tmp" "mmcv==$MMCV_VERSION" >&2
    mkdir -p "$WHEELS" && mv "$WHEELS.tmp"/mmcv-*.whl "$WHEELS"/ && rm -rf "$WHEELS.tmp"
else
    printf '[mmcv] reusing the built wheel in %s\n' "$WHEELS" >&2
fi
ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1
