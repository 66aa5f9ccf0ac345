#!/usr/bin/env bash
# The GPU proof of issue 16 as ONE command on a fresh GPU machine (this repository checked out,
# ../shared not needed). It installs what is missing, then runs python -m bench.gpu_proof --device gpu,
# which writes gpu_proof.json + gpu_proof.md (+ this log) to $OUT.
#
#   bash bench/gpu_proof.sh                      # defaults: random-init BERT-base, 60 steps per run
#   GPU_PROOF_STEPS=30 bash bench/gpu_proof.sh --size minilm    # arguments go to gpu_proof.py
#
# Install, in order, each step only when needed:
#   1. .whl/*.whl (spaCy and its dependencies, downloaded beforehand by bench/gpu_proof_wheels.sh
#      where pip has a network; the device machine has none) with --no-deps, into the Python that
#      already has torch;
#   2. the project itself (-e ., no dependencies: its entry points register the components);
#   3. CuPy: kept when one is importable for the CUDA major of torch's build; otherwise the
#      project's cudaNNx extra for that major (needs a network or the wheel in .whl/).
# torch is never installed or replaced: the machine's CUDA build is what is proven.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-proof-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
start=$(date +%s)

main() {

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: not found"
$PY -c "import sys, torch; print('python', sys.version.split()[0], sys.executable, '| torch', torch.__version__, 'CUDA', torch.version.cuda, 'available', torch.cuda.is_available())" \
  || { echo "no torch in $PY: set PYTHON to the interpreter that has torch with CUDA"; exit 1; }

echo "== install"
PIP="$PY -m pip install -q --no-compile --disable-pip-version-check --no-cache-dir"
WHEELS=${GPU_PROOF_WHEELS:-.whl}
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  # only the distributions this Python lacks: what the image has (typing_extensions, say) stays
  missing=$($PY - "$WHEELS" <<'PYEOF'
import sys
from importlib import metadata
from pathlib import Path
for wheel in sorted(Path(sys.argv[1]).glob("*.whl")):
    try:
        metadata.version(wheel.name.split("-")[0])
    except metadata.PackageNotFoundError:
        print(wheel)
PYEOF
)
  if [ -n "$missing" ]; then
    echo "installing $(echo "$missing" | wc -l) wheels from $WHEELS/"
    $PIP --no-index --no-deps $missing || echo "installing $WHEELS/ failed"
  fi
elif ! $PY -c "import spacy" 2>/dev/null; then
  echo "no spaCy and no .whl/: trying the index (works only with a network)"
  $PIP "spacy>=3.7,<4.0" "thinc>=8.2,<9.0" || echo "spaCy could not be installed"
fi
$PIP --no-index --no-deps --no-build-isolation -e . 2>/dev/null \
  || $PIP --no-index --no-deps --no-build-isolation . \
  || echo "the project could not be installed: its components will not register"

CUDA_MAJOR=$($PY -c "import torch; v = torch.version.cuda; print(v.split('.')[0] if v else '')")
if [ -z "$CUDA_MAJOR" ]; then
  echo "torch is a CPU build: no CUDA extra applies (the runs will end in E520/E521)"
else
  EXTRA="cuda${CUDA_MAJOR}x"
  if $PY -c "import cupy, sys; sys.exit(0 if cupy.cuda.runtime.runtimeGetVersion() // 1000 == $CUDA_MAJOR else 1)" 2>/dev/null; then
    echo "CuPy $($PY -c 'import cupy; print(cupy.__version__)') for CUDA $CUDA_MAJOR is present: spacy-bert[$EXTRA] is satisfied"
  else
    echo "installing spacy-bert[$EXTRA] (CuPy for torch's CUDA $CUDA_MAJOR)"
    $PIP --find-links "$WHEELS" --no-build-isolation -e ".[$EXTRA]" \
      || echo "spacy-bert[$EXTRA] could not be installed (no network, or no such extra): --gpu-id 0 will end in E520/E521"
  fi
fi
$PY -m pip check 2>&1 | grep -i -E "spacy|thinc|cupy|pydantic|confection|weasel|srsly" || echo "pip check: nothing missing for spaCy"
echo "install: $(( $(date +%s) - start )) s"

echo "== proof"
$PY -m bench.gpu_proof --device gpu --out "$OUT" "$@"
status=$?
echo "gpu_proof.sh: exit $status after $(( $(date +%s) - start )) s"
return $status
}

main "$@" 2>&1 | tee "$OUT/gpu_proof.log"
exit "${PIPESTATUS[0]}"
