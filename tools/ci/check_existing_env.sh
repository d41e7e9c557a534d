#!/usr/bin/env bash
# Installing mm_iresnet into an existing OpenMMLab environment must leave it
# as it is. Builds ENV (default ./.venv-existing) from tools/ci/existing_env.txt
# with the torch and mmcv of the main install (no compile), then:
#   1. pip's plan for `pip install -e .[det,action]` changes no installed
#      distribution: it installs mm_iresnet, and adds only distributions the
#      environment lacks (gdown and what it needs);
#   2. after that install, every line of `pip freeze` is still there;
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

log "1. pip's plan changes no installed distribution"
"${PIP[@]}" install -q --dry-run --report "$ENV/plan.json" -e "$ROOT[det,action]"
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

log "2. installing changes no installed package"
"${PIP[@]}" install -q -e "$ROOT[det,action]"
"${PIP[@]}" freeze --all | grep -v '^pip==' | sort > "$ENV/freeze-after.txt"
if lost="$(comm -23 "$ENV/freeze-before.txt" "$ENV/freeze-after.txt")" && [ -n "$lost" ]; then
    printf '%s\n' "$lost"; log "FAIL: these installed versions changed (above)"; exit 1
fi
log "   added: $(comm -13 "$ENV/freeze-before.txt" "$ENV/freeze-after.txt" | grep -v '^-e \|^# Editable' | tr '\n' ' ')"

log "3. pip check"
"${PIP[@]}" check

log "4. backbone, config-build and converter tests"
"$PY" -c "import mmengine, mmdet, mmaction, numpy; print('[existing-env]    mmengine', mmengine.__version__, 'mmdet', mmdet.__version__, 'mmaction2', mmaction.__version__, 'numpy', numpy.__version__)"
cd "$ROOT"
"$PY" -m pytest -q -p no:cacheprovider tests/test_iresnet.py tests/test_iresnet3d.py \
    tests/test_official_parity.py tests/test_convert.py tests/test_family.py \
    tests/test_deps.py tests/test_detection.py tests/test_recognition.py \
    tests/test_weights.py

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
