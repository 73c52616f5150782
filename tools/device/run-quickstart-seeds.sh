#!/usr/bin/env bash
# Runs on the device machine after tools/device/unpack.sh restored the bundle into DEST (JRE, jars,
# libnd4jcpu.so) and with .devapp carried (tools/device/pack-quickstart.sh):
#   OUT=$OUT SEEDS="1 2 3 4 5 6 7 8" bash .devapp/run-quickstart-seeds.sh DEST .devapp [QuickStart args...]
# Swaps in .devapp's rlhf4j jars, unpacks the shared data, then runs one QuickStart process per seed, all
# at once, each with --threads ${QS_THREADS:-2} (so 8 seeds use 16 cores), OMP_NUM_THREADS=1 and every
# OPENBLAS_* variable removed, as rlhf-examples' exec configuration runs it. Each run is cut at CAP_S
# (default 520 s). Copies every run's small outputs (summary.json/.txt, win-rates.json, samples-*.jsonl,
# metrics.jsonl, plots) to $OUT/seed-N/ and its console output to $OUT/seed-N.log.
set -uo pipefail
DEST=${1:?usage: run-quickstart-seeds.sh DEST APPDIR [QuickStart args...]}
APP=${2:?usage: run-quickstart-seeds.sh DEST APPDIR [QuickStart args...]}
shift 2
OUT=${OUT:?set OUT}
SEEDS=${SEEDS:-1 2 3 4 5 6 7 8}
CAP_S=${CAP_S:-520}
QS_THREADS=${QS_THREADS:-2}
H=$DEST/devbench
[ -x "$H/jre/bin/java" ] || { echo "no JRE in $H: restore .devbench1 first" >&2; exit 3; }
rm -f "$H"/lib/*rlhf-core-*.jar "$H"/lib/*rlhf-reward-*.jar "$H"/lib/*rlhf-ppo-*.jar "$H"/lib/*rlhf-examples-*.jar
cp "$APP"/jars/*.jar "$H/lib/"
mkdir -p "$DEST/shared" && tar -C "$DEST/shared" -xJf "$APP/data.tar.xz"
for v in $(env | grep -o '^OPENBLAS_[A-Z0-9_]*'); do unset "$v"; done
echo "commit: $(tr '\n' ' ' < "$APP/COMMIT")  cpu: $(lscpu | sed -n 's/^Model name: *//p')  nproc: $(nproc)  args: $*"
mkdir -p "$OUT"
# QS_GROUPS (optional): configurations to compare, '|'-separated, each "LABEL;SEEDS;JVM ARGS" (e.g.
# "a;1 2 3 4;-Drlhf4j.quickstart.ppoLr=1e-4|b;1 2 3 4;-Drlhf4j.quickstart.ppoLr=2e-4"); outputs go to
# LABEL-seed-N. Without it: SEEDS with no extra JVM arguments, outputs in seed-N.
QS_GROUPS=${QS_GROUPS:-";$SEEDS;"}
RUNS=()
IFS='|' read -ra ENTRIES <<< "$QS_GROUPS"
for e in "${ENTRIES[@]}"; do
  IFS=';' read -r label seeds jargs <<< "$e"
  for s in $seeds; do
    name="seed-$s"; [ -n "$label" ] && name="$label-seed-$s"
    RUNS+=("$name")
    # shellcheck disable=SC2086
    (cd "$DEST" && OMP_NUM_THREADS=1 timeout -k 5 "$CAP_S" "$H/jre/bin/java" -Xmx8g $jargs \
       -Dorg.slf4j.simpleLogger.defaultLogLevel=info -Dorg.slf4j.simpleLogger.log.org.nd4j=warn \
       "-Dorg.bytedeco.javacpp.cachedir=$H/javacpp-cache-$name" "-Drlhf4j.data=$DEST/shared/data" \
       -cp "$H/lib/*" org.rlhf4j.examples.QuickStart --seed "$s" --threads "$QS_THREADS" --quiet \
       --out "$DEST/qs/$name" "$@" > "$OUT/$name.log" 2>&1; echo "$name exit $? after $SECONDS s; jvm args: $jargs" >> "$OUT/$name.log"
     # copied as soon as this run ends, so that a device call cut short still returns the runs that finished
     mkdir -p "$OUT/$name"
     for f in summary.json summary.txt win-rates.json samples-sft.jsonl samples-ppo.jsonl samples-best-of-16.jsonl metrics.jsonl overoptimisation.png; do
       [ -f "$DEST/qs/$name/$f" ] && cp "$DEST/qs/$name/$f" "$OUT/$name/"
     done) &
  done
done
wait
for name in "${RUNS[@]}"; do tail -2 "$OUT/$name.log"; done
