#!/usr/bin/env bash
# Installing mm_iresnet into an existing OpenMMLab environment must leave it
# as it is. Builds ENV (default ./.venv-existing) from tools/ci/existing_env.txt
# with the torch and mmcv of the main install (no compile), then:
#   1. pip's plan for `pip install -e .[det,action]` installs mm_iresnet alone;
#   2. after that install, `pip freeze` is unchanged but for mm_iresnet;
#   3. `pip check` is clean;
#   4. the backbone, config-build and converter tests pass there;
#   5. the package's source compiles with the lowest Python that
#      pyproject.toml declares (3.8), where such an interpreter is found.
# Run `bash tools/install.sh` first (it builds and caches the mmcv wheel).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ENV="${1:-$ROOT/.venv-existing}"
MAIN="$ROOT/.venv/bin/python"
log() { printf '[existing-env] %s\n' "$*"; }

mmcv_wheel="$("$MAIN" -c 'import json, importlib.metadata as m; print(json.loads(m.distribution("mmcv").read_text("direct_url.json"))["url"][len("file://"):])')"
torch_version="$("$MAIN" -c 'import torch; print(torch.__version__.split("+")[0])')"

rm -rf "$ENV"
"$("$MAIN" -c 'import sys; print(sys._base_executable)')" -m venv "$ENV"
PY="$ENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
[ -d /opt/wheels ] && [ -z "${PIP_FIND_LINKS:-}" ] && export PIP_FIND_LINKS=/opt/wheels

log "building the environment: torch $torch_version, $(basename "$mmcv_wheel"), tools/ci/existing_env.txt"
"${PIP[@]}" install -q "torch==$torch_version"
"${PIP[@]}" install -q --no-deps "$mmcv_wheel"
"${PIP[@]}" install -q -r "$ROOT/tools/ci/existing_env.txt"
"${PIP[@]}" freeze --all | grep -v '^pip==' | sort > "$ENV/freeze-before.txt"

log "1. pip's plan installs mm_iresnet alone"
"${PIP[@]}" install -q --dry-run --report "$ENV/plan.json" -e "$ROOT[det,action]"
"$PY" - "$ENV/plan.json" <<'PYEOF'
import json, sys
plan = [i['metadata']['name'] + '==' + i['metadata']['version']
        for i in json.load(open(sys.argv[1]))['install']]
others = [p for p in plan if not p.lower().startswith('mm_iresnet')]
print('[existing-env]    plan:', ', '.join(plan))
sys.exit(f'[existing-env] FAIL: the install would change {others}' if others else 0)
PYEOF

log "2. installing changes no installed package"
"${PIP[@]}" install -q -e "$ROOT[det,action]"
"${PIP[@]}" freeze --all | grep -v '^pip==' | grep -v '^-e \|^# Editable' | grep -vi '^mm[_-]iresnet[= ]' | sort > "$ENV/freeze-after.txt"
if ! diff "$ENV/freeze-before.txt" "$ENV/freeze-after.txt"; then
    log "FAIL: pip freeze changed (above)"; exit 1
fi

log "3. pip check"
"${PIP[@]}" check

log "4. backbone, config-build and converter tests"
"$PY" -c "import mmengine, mmdet, mmaction, numpy; print('[existing-env]    mmengine', mmengine.__version__, 'mmdet', mmdet.__version__, 'mmaction2', mmaction.__version__, 'numpy', numpy.__version__)"
cd "$ROOT"
"$PY" -m pytest -q -p no:cacheprovider tests/test_iresnet.py tests/test_iresnet3d.py \
    tests/test_official_parity.py tests/test_convert.py tests/test_family.py \
    tests/test_deps.py tests/test_detection.py tests/test_recognition.py

py38=""
for candidate in python3.8 /root/.pyenv/versions/3.8*/bin/python; do
    if "$candidate" --version >/dev/null 2>&1; then py38="$candidate"; break; fi
done
if [ -n "$py38" ]; then
    log "5. the source compiles with $("$py38" --version)"
    tmp="$(mktemp -d)"; cp -r "$ROOT/mm_iresnet" "$tmp/"
    "$py38" -m compileall -q "$tmp/mm_iresnet"; rm -rf "$tmp"
else
    log "5. no Python 3.8 interpreter here: compile check not run"
fi
log "ok"
