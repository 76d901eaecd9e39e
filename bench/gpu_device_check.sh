#!/bin/sh
# The GPU bench as one prepared device call: about 6 minutes on an H100 or H200.
#
#   sh bench/gpu_device_check.sh [OUT]      (OUT: default $OUT/void-bench, else /tmp/void-bench)
#
# Runs bench/gpu_void_bench.py --quick from this bare checkout (random weights at the real size,
# no download, no install of the project) and prints its table: per memory mode the traced
# budget against the measured peak, seconds per step of Pass 1 and of guided Pass 2, encode and
# decode seconds. Results are appended to OUT/results.jsonl; the cases --quick leaves out run in
# a second call: python bench/gpu_void_bench.py OUT --cases warp-85,window-85,cap24-85,load
set -u
cd "$(dirname "$0")/.." || exit 2
OUT_DIR="${1:-${OUT:+$OUT/void-bench}}"
OUT_DIR="${OUT_DIR:-/tmp/void-bench}"
PY="${PYTHON:-python3}"
if ! "$PY" -c "import torch, diffusers, transformers, safetensors" 2>/dev/null; then
    echo "gpu_device_check: $PY lacks torch, diffusers, transformers or safetensors; set PYTHON=/path/to/python of an environment that has them"
    exit 2
fi
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_device_check: torch sees no CUDA GPU here (nvidia-smi lists the GPUs); run it on the GPU machine, or: python bench/gpu_void_bench.py $OUT_DIR --tiny"
    exit 2
fi
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv,noheader 2>/dev/null
# The bench keeps its own budget (330 s) and per-case watchdog (120 s); this is the backstop.
timeout 420 "$PY" bench/gpu_void_bench.py "$OUT_DIR" --quick
rc=$?
[ "$rc" -eq 124 ] && echo "gpu_device_check: stopped after 420 s; the table of what finished:" \
    && "$PY" bench/gpu_void_bench.py "$OUT_DIR" --table
exit "$rc"
