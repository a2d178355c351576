#!/usr/bin/env bash
# The prepared GPU check of issue 14: the engine benchmark on CUDA (the same cases plus larger
# ensembles, FLOP/s against the GPU's measured matmul peak), its JSON and its table written to
# $OUT (default: the current folder). Run from the repository root with the project's Python:
#     PYTHON=.venv/bin/python OUT=/tmp/gpu bash benchmarks/run_gpu.sh
set -euo pipefail
py="${PYTHON:-python}"
out="${OUT:-.}"
mkdir -p "$out"
"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: nothing to measure')"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$out/gpu.csv" || true
# --wait-quiet 0: the GPU is not shared with other sessions' CPU work the way the CPU is
timeout "${LIMIT_S:-540}" "$py" -m benchmarks.engine --device cuda --wait-quiet 0 --json > "$out/engine_cuda.json"
"$py" -c "import json, sys; from benchmarks.engine_report import format_report; \
print(format_report(json.load(open(sys.argv[1]))))" "$out/engine_cuda.json" | tee "$out/engine_cuda.txt"
