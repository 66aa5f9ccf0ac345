#!/usr/bin/env bash
# Download the wheels bench/gpu_proof.sh needs on the GPU machine (no network there) into .whl/
# (git-ignored; name it in the device tool's `carry`). Run here, in the repository root, before the
# GPU session. The tool carries at most 64 MiB: these wheels plus the working tree fit (checked below).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
PY=${PYTHON:-python3}
grep -v '^#' bench/gpu_proof_wheels.txt | grep -v '^$' | while read -r req; do
  $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d .whl "$req"
done
# one version of each package (two stop the whole install there)
dups=$(ls .whl | sed -E 's/-[0-9].*//' | tr 'A-Z-' 'a-z_' | sort | uniq -d)
[ -z "$dups" ] || { echo "more than one version of: $dups (empty .whl/ and run again)"; exit 1; }
wheels=$(du -cb .whl/*.whl | tail -1 | cut -f1)
tree=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | grep total$ | awk '{s+=$1} END {print s}')
echo "wheels: $((wheels / 1048576)) MiB in $(ls .whl/*.whl | wc -l) files; working tree: $((tree / 1048576)) MiB; limit 64 MiB"
[ $((wheels + tree)) -lt $((64 * 1048576)) ] || { echo "over the 64 MiB the device tool carries"; exit 1; }
