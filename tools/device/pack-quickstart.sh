#!/usr/bin/env bash
# Packs, here, what runs QuickStart for several seeds on the device machine (16-core Xeon, no Java, no
# network), on top of the bundle tools/device/make-bundle.sh built (.devbench1: JRE + dependency jars,
# .devbench2: libnd4jcpu.so). The dependency jars rarely change; the project's own jars and the data do:
#   tools/device/pack-quickstart.sh ROOT
# writes ROOT/.devapp/ (git-ignored): the four rlhf4j jars of this checkout, the shared data the
# quick-start reads (../shared/data: corpus, sentiment, sft, preference; copied for the device call only,
# never committed) and run-quickstart-seeds.sh. Commands: tools/device/COMMANDS.md ("Quick-start seeds").
set -euo pipefail
ROOT=${1:?usage: pack-quickstart.sh ROOT}
ROOT=$(cd "$ROOT" && pwd)
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${RLHF4J_DATA:-$REPO/../shared/data}
[ -d "$DATA/sentiment" ] || { echo "no shared data at $DATA" >&2; exit 1; }
cd "$REPO"
mvn -B -q -o -pl rlhf-examples -am package -DskipTests
A=$ROOT/.devapp
rm -rf "$A"; mkdir -p "$A/jars"
for m in rlhf-core rlhf-reward rlhf-ppo rlhf-examples; do
  cp "$m"/target/$m-*-SNAPSHOT.jar "$A/jars/" 2>/dev/null || true
done
rm -f "$A"/jars/*-sources.jar "$A"/jars/*-javadoc.jar "$A"/jars/*-tests.jar
[ "$(ls "$A"/jars | wc -l)" = 4 ] || { echo "expected 4 rlhf4j jars, got: $(ls "$A"/jars)" >&2; exit 1; }
tar -C "$DATA/.." -cJf "$A/data.tar.xz" data/README.md data/corpus data/sentiment data/sft data/preference
cp tools/device/run-quickstart-seeds.sh "$A/"
git rev-parse HEAD > "$A/COMMIT"; git status --porcelain | grep -q . && echo "(with uncommitted changes)" >> "$A/COMMIT"
grep -qx '/.devapp/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '/.devapp/' >> "$ROOT/.git/info/exclude"
du -sh "$A"
