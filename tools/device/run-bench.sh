#!/usr/bin/env bash
# Runs on the device machine, from the unpacked bundle (tools/device/unpack.sh), or here for a test:
#   OUT=/some/dir bash DEST/devbench/tools/device/run-bench.sh
# For each thread count in THREADS (default "16 8 2 1": the counts issue 12 asks about first, so that a
# cut-short run still has them), runs rlhf4j's Benchmark (--threads N --only $ONLY) and then
# tools/bench_torch.py N (torch.set_num_threads(N)), alternately, with every OPENBLAS_* variable removed,
# as a user runs them. Writes $OUT/devbench.md (CPU summary + side-by-side table) and $OUT/devbench-raw.log
# (every program's full output), both also printed at the end.
#
# Settings (environment): THREADS, ONLY (Benchmark --only lists, one JVM each; default "gemm,train sample,scaling"),
# TORCH_ARGS (extra bench_torch.py arguments, e.g. --no-scaling), JAVA_EXTRA (more JVM options), BUDGET_S (default 230: no run starts
# after it; each run is cut at the time left, and at JAVA_CAP_S=80 / TORCH_CAP_S=50 seconds).
# Repetitions are the programs' own (Benchmark: GEMM 2+8, small 10+30 steps, medium 10+10, sampling
# 3+5 x 64 token-steps, batch-1 scaling: warm-up, then alternating rounds for at least 3 s and 7 rounds; bench_torch.py: small 5+20, medium 5+5,
# sampling 1+2 x 64, scaling 2 rounds, then at least 3 s and 7 rounds), so that the figures are the ones the README and issue 12 quote.
set -uo pipefail
HERE=$(cd "$(dirname "$0")/../.." && pwd)      # .../devbench
OUT=${OUT:?set OUT to the folder for devbench.md and devbench-raw.log}
mkdir -p "$OUT"
THREADS=${THREADS:-16 8 2 1}
ONLY=${ONLY:-gemm,train sample,scaling}   # one JVM per word: Benchmark prints only at its end, so a run cut short keeps the other part
TORCH_ARGS=${TORCH_ARGS:-}
BUDGET_S=${BUDGET_S:-230}
JAVA_CAP_S=${JAVA_CAP_S:-80}
TORCH_CAP_S=${TORCH_CAP_S:-50}
PY=${PYTHON:-python3}
RAW=$OUT/devbench-raw.log
: > "$RAW"
for v in $(env | grep -o '^OPENBLAS_[A-Z0-9_]*'); do unset "$v"; done
unset OMP_NUM_THREADS MKL_NUM_THREADS
START=$(date +%s)
left() { echo $((BUDGET_S - ($(date +%s) - START))); }
log() { echo "$@" | tee -a "$RAW"; }

{
  echo "=== machine"
  date -u +%FT%TZ
  echo "bundle commit: $(tr '\n' ' ' < "$HERE/COMMIT")"
  lscpu | grep -E '^(Model name|Architecture|CPU\(s\)|On-line CPU|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|NUMA node\(s\)|L1d|L2|L3|CPU max MHz|Hypervisor vendor|Virtualization type)' || true
  echo "ISA flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512[a-z_0-9]*|amx[a-z_0-9]*)$' | paste -sd' ')"
  echo "nproc: $(nproc); cgroup cpu.max: $(cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo n/a); mem: $(free -g 2>/dev/null | awk '/Mem:/{print $2" GiB"}')"
  echo "load: $(cat /proc/loadavg)"
  "$HERE/jre/bin/java" -version 2>&1 | head -1
  "$PY" -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__); c = torch.__config__.show(); print("\n".join(l[:160] for l in c.splitlines() if any(k in l for k in ("BLAS", "CPU capability", "MKL", "oneDNN", "OpenMP"))))' 2>&1 || echo "torch: not importable"
} 2>&1 | tee -a "$RAW"

JAVA_OPTS=(-Xmx8g -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dorg.slf4j.simpleLogger.log.org.nd4j=warn
  "-Dorg.bytedeco.javacpp.cachedir=$HERE/javacpp-cache")   # as rlhf-examples' exec configuration, plus a private cache
# JAVA_EXTRA: more JVM options, e.g. "-Drlhf4j.blas=openblas" for the OpenBLAS baseline on a machine where MKL is chosen.
read -r -a EXTRA <<< "${JAVA_EXTRA:-}"
JAVA_OPTS+=("${EXTRA[@]}")
for n in $THREADS; do
  for prog in rlhf4j torch; do
    cap=$JAVA_CAP_S; [ $prog = torch ] && cap=$TORCH_CAP_S
    l=$(left)
    if [ "$l" -lt 15 ]; then log "=== $prog threads $n: SKIPPED (time budget spent)"; continue; fi
    [ "$l" -lt "$cap" ] && cap=$l
    log "=== $prog threads $n (cap ${cap} s, $(date -u +%T))"
    t0=$(date +%s)
    if [ $prog = rlhf4j ]; then
      # OMP_NUM_THREADS=1 as rlhf-examples' exec configuration sets it (rlhf4j threads its own work).
      rc=0
      for part in $ONLY; do
        [ "$(left)" -lt 10 ] && { echo "part $part SKIPPED (time budget spent)" >> "$RAW"; continue; }
        c=$cap; [ "$(left)" -lt "$c" ] && c=$(left)
        (cd "$HERE" && OMP_NUM_THREADS=1 timeout -k 5 "$c" "$HERE/jre/bin/java" "${JAVA_OPTS[@]}" -cp "$HERE/lib/*" \
          org.rlhf4j.examples.Benchmark --threads "$n" --only "$part") >> "$RAW" 2>&1 || rc=$?
      done
      (exit $rc)
    else
      (cd "$HERE" && PYTHONUNBUFFERED=1 timeout -k 5 "$cap" "$PY" tools/bench_torch.py "$n" $TORCH_ARGS) >> "$RAW" 2>&1
    fi
    rc=$?
    log "=== end $prog threads $n: rc $rc$([ $rc = 124 ] && echo ' TIMEOUT'), $(( $(date +%s) - t0 )) s"
  done
done
log "=== total $(( $(date +%s) - START )) s"
"$PY" "$HERE/tools/device/summarize.py" "$RAW" > "$OUT/devbench.md" || echo "summary failed; see $RAW" >&2
cat "$OUT/devbench.md"
