#!/usr/bin/env bash
# Every GPU section of docs/performance.md in one run on one CUDA GPU (see gpu_suite.py).
#   bash benchmarks/gpu_suite.sh             # on a CUDA machine; writes docs/performance.md
#   bash benchmarks/gpu_suite.sh --dry-run   # anywhere: every code path on the CPU at the smallest size
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
exec "${PYTHON:-python}" benchmarks/gpu_suite.py "$@"
