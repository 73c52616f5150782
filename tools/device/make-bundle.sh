#!/usr/bin/env bash
# Builds, here, a self-contained bundle that runs org.rlhf4j.examples.Benchmark (and tools/bench_torch.py)
# on a machine with no Java, no Maven and no network (the lent device machine: 16-core Xeon, python3 with torch).
#
#   tools/device/make-bundle.sh ROOT
#
# ROOT is the repository root whose working tree the device tool sends (the integrator's checkout).
# It writes three git-ignored folders there (each well under the tool's 64 MiB):
#   ROOT/.devbench1/app.tar.xz        the jlink'ed JRE, the runtime jars (linux-x86_64 natives only; the
#                                     nd4j-native jar WITHOUT libnd4jcpu.so), tools/device/*.sh, bench_torch.py
#   ROOT/.devbench2/nd4jcpu.so.xz     libnd4jcpu.so (323 MB), xz-compressed (~31 MB)
#   ROOT/.devbench3/mkl.jar.xz        Intel MKL's libraries for AVX-512 CPUs (~266 of the jar's 604 MB), xz -9
#                                     (two parts: carried in two calls, see COMMANDS.md)
# and adds '/.devbench1/' to '/.devbench3/' to ROOT's .git/info/exclude (so they travel only when carried).
# Each archive is split with `split -b 49M` into part-aa, part-ab, ... (normally a single part-aa).
# On the machine, tools/device/unpack.sh restores libnd4jcpu.so into the nd4j-native jar (stored, not
# deflated), so ND4J/JavaCPP load it exactly as from Maven's jar (extracted to -Dorg.bytedeco.javacpp.cachedir).
# The device commands are in tools/device/COMMANDS.md.
#
# Needs here: JDK 17 with jmods (jlink, jdeps), Maven with the dependencies in ~/.m2 (runs offline), xz,
# python3. Never runs `mvn install`.
set -euo pipefail
ROOT=${1:?usage: make-bundle.sh ROOT}
ROOT=$(cd "$ROOT" && pwd)
REPO=$(cd "$(dirname "$0")/../.." && pwd)   # the checkout whose code is bundled
cd "$REPO"
STAGE=$(mktemp -d /tmp/devbench-stage.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
B=$STAGE/devbench
mkdir -p "$B/lib" "$B/tools/device"

# 1. Classes and runtime dependencies (offline; package only, never install).
# (DEVBENCH_LIB_CACHE=DIR, for testing this script: reuse DIR's jars when it exists, else fill it.)
if [ -n "${DEVBENCH_LIB_CACHE:-}" ] && [ -d "$DEVBENCH_LIB_CACHE" ]; then
  cp "$DEVBENCH_LIB_CACHE"/*.jar "$B/lib/"
else
  mvn -B -q -o -pl rlhf-examples -am package -DskipTests \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$B/lib" -Dmdep.prependGroupId=true
  for j in rlhf-examples/target/rlhf-examples-*.jar; do
    case "$j" in *-sources.jar|*-javadoc.jar|*-tests.jar) ;; *) cp "$j" "$B/lib/" ;; esac
  done
  if [ -n "${DEVBENCH_LIB_CACHE:-}" ]; then mkdir -p "$DEVBENCH_LIB_CACHE" && cp "$B"/lib/*.jar "$DEVBENCH_LIB_CACHE/"; fi
fi
# The reactor modules may have been copied as target/classes folders (no jar yet): keep only jars.
find "$B/lib" -mindepth 1 -maxdepth 1 ! -name '*.jar' -exec rm -rf {} +

# 2. Only linux-x86_64 natives: drop other platforms' native jars (JavaCPP classifier jars).
{ find "$B/lib" -name '*.jar' | grep -E -- '-(windows|macosx|android|ios|linux-(arm|armhf|arm64|ppc64le|x86|mips64el))[-.]' \
  | grep -v -- '-linux-x86_64' || true; } | xargs -r rm -fv
ls "$B/lib" | grep -E -- '-linux-x86_64' >/dev/null || { echo "no linux-x86_64 native jars in the classpath" >&2; exit 1; }
# Intel MKL's jar (210 MB, ~600 MB unpacked) does not fit the device tool's transfers whole: it is taken
# out here and shipped apart (step 3b) with only what an AVX-512 Xeon loads (the dispatcher mkl_rt and its
# libopenblas copies, core, LP64 interface, Intel threading + libiomp5, the AVX-512 kernels, ~266 MB).
MKLJAR=$(find "$B/lib" -name '*mkl-*-redist.jar' -printf '%f\n' | head -1)
if [ -n "$MKLJAR" ]; then mv "$B/lib/$MKLJAR" "$STAGE/$MKLJAR.full"; fi

# 3. libnd4jcpu.so out of the nd4j-native jar, xz-compressed on its own.
SO=org/nd4j/linalg/cpu/nativecpu/bindings/linux-x86_64/libnd4jcpu.so
mkdir -p "$STAGE/so"
python3 - "$B/lib" "$SO" "$STAGE/so/libnd4jcpu.so" <<'EOF'
import glob, sys, zipfile, shutil, os
lib, entry, out = sys.argv[1:]
jars = [j for j in sorted(glob.glob(os.path.join(lib, "*linux-x86_64*.jar"))) if entry in zipfile.ZipFile(j).namelist()]
if len(jars) != 1:
    sys.exit(f"expected one jar in {lib} holding {entry}, found {jars}")
jar = jars[0]
open(os.path.join(os.path.dirname(lib), "nd4jcpu-jar.txt"), "w").write(os.path.basename(jar) + "\n")
# Every jar is rewritten uncompressed (stored): xz then compresses the whole bundle about twice as well
# as it compresses deflated jars. The JVM reads stored jars as it reads deflated ones.
for j in sorted(glob.glob(os.path.join(lib, "*.jar"))):
    tmp = j + ".new"
    try:
        with zipfile.ZipFile(j) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zout:
            for info in zin.infolist():
                if j == jar and info.filename == entry:
                    with zin.open(info) as src, open(out, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                else:
                    data = zin.read(info)
                    info.compress_type = zipfile.ZIP_STORED
                    zout.writestr(info, data)
    except zipfile.BadZipFile as e:  # a jar Python cannot re-read entry by entry: ship it as it is
        if j == jar:
            raise
        print(f"{os.path.basename(j)}: kept as it is ({e})")
        os.remove(tmp)
        continue
    os.replace(tmp, j)
print(f"{os.path.basename(jar)}: {entry} taken out ({os.path.getsize(out) >> 20} MiB); jars stored uncompressed")
EOF

# 3b. The slim MKL jar (stored), for the third folder.
if [ -n "$MKLJAR" ]; then
  python3 - "$STAGE/$MKLJAR.full" "$STAGE/mkl.jar" <<'EOF'
import sys, zipfile
src, out = sys.argv[1:]
keep = {"libmkl_rt.so.2", "libopenblas.so.0", "libopenblas_nolapack.so.0", "libmkl_core.so.2", "libmkl_intel_lp64.so.2",
        "libmkl_intel_thread.so.2", "libiomp5.so", "libmkl_avx512.so.2", "libmkl_vml_avx512.so.2"}
n = 0
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
    for info in zin.infolist():
        base = info.filename.rsplit("/", 1)[-1]
        if ".so" in base and base not in keep:
            continue
        data = zin.read(info)
        n += len(data)
        info.compress_type = zipfile.ZIP_STORED
        zout.writestr(info, data)
print(f"MKL jar for AVX-512 CPUs: {n >> 20} MiB of its libraries kept")
EOF
  rm -f "$STAGE/$MKLJAR.full"
fi

# 4. A jlink'ed JRE with the modules the classpath needs (jdeps), plus ones used reflectively.
MODS=$(jdeps -q --multi-release 17 --ignore-missing-deps --print-module-deps --class-path "$B/lib/*" "$B"/lib/*.jar 2>/dev/null || true)
MODS=$(echo "${MODS:-java.base},java.base,java.logging,java.management,jdk.management,jdk.unsupported,java.naming,java.sql,java.xml,java.desktop,java.scripting,jdk.zipfs,jdk.crypto.ec" \
  | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd,)
if [ -d "${JAVA_HOME:-/nonexistent}/jmods/jdk.incubator.vector.jmod" ] || ls /usr/lib/jvm/*/jmods/jdk.incubator.vector.jmod >/dev/null 2>&1; then
  MODS="$MODS,jdk.incubator.vector"
fi
echo "jlink modules: $MODS"
jlink --add-modules "$MODS" --strip-debug --no-header-files --no-man-pages --output "$B/jre"
echo "$MODS" > "$B/jre-modules.txt"

# 5. Scripts that run there.
cp tools/device/run-bench.sh tools/device/unpack.sh tools/device/summarize.py "$B/tools/device/"
cp tools/bench_torch.py "$B/tools/"
git -C "$REPO" rev-parse HEAD > "$B/COMMIT" 2>/dev/null || echo unknown > "$B/COMMIT"
git -C "$REPO" status --porcelain | grep -q . && echo "(uncommitted changes)" >> "$B/COMMIT" || true

# 6. Two archives, one per device call, split into <= 49 MiB parts.
mkdir -p "$STAGE/out1" "$STAGE/out2"
tar -C "$STAGE" -cf - devbench | xz -T2 -6 > "$STAGE/out1/app.tar.xz"
xz -T2 -6 -c "$STAGE/so/libnd4jcpu.so" > "$STAGE/out2/nd4jcpu.so.xz"
for k in 1 2 3; do
  rm -rf "$ROOT/.devbench$k"
done
mkdir -p "$ROOT/.devbench1" "$ROOT/.devbench2"
if [ -n "$MKLJAR" ]; then
  mkdir -p "$STAGE/out3" "$ROOT/.devbench3"
  xz -T2 -9 -c "$STAGE/mkl.jar" > "$STAGE/out3/mkl.jar.xz"   # -9: its three identical 8 MB libraries share one window
  (cd "$ROOT/.devbench3" && split -b 49M "$STAGE/out3/mkl.jar.xz" mkl.jar.xz.part-)
  (cd "$STAGE/out3" && sha256sum mkl.jar.xz) > "$ROOT/.devbench3/SHA256SUMS"
  echo "$MKLJAR" > "$ROOT/.devbench3/MKLJAR"
  cp tools/device/unpack.sh "$ROOT/.devbench3/"
fi
(cd "$ROOT/.devbench1" && split -b 49M "$STAGE/out1/app.tar.xz" app.tar.xz.part-)
(cd "$ROOT/.devbench2" && split -b 49M "$STAGE/out2/nd4jcpu.so.xz" nd4jcpu.so.xz.part-)
(cd "$STAGE/out1" && sha256sum app.tar.xz) > "$ROOT/.devbench1/SHA256SUMS"
(cd "$STAGE/out2" && sha256sum nd4jcpu.so.xz) > "$ROOT/.devbench2/SHA256SUMS"
cp tools/device/unpack.sh "$ROOT/.devbench1/"
cp tools/device/unpack.sh "$ROOT/.devbench2/"
EXCL=$(git -C "$ROOT" rev-parse --git-common-dir 2>/dev/null || true)
if [ -n "$EXCL" ]; then
  EXCL=$(cd "$ROOT" && cd "$EXCL" && pwd)/info/exclude
  mkdir -p "$(dirname "$EXCL")"
  for k in 1 2 3; do grep -qx "/.devbench$k/" "$EXCL" 2>/dev/null || echo "/.devbench$k/" >> "$EXCL"; done
  for k in 1 2 3; do git -C "$ROOT" check-ignore -q ".devbench$k" || echo "warning: .devbench$k is not ignored in $ROOT" >&2; done
fi
echo "bundle of $(cat "$B/COMMIT" | head -1):"
du -b "$ROOT"/.devbench[123]/* | awk '{printf "  %7.1f MiB  %s\n", $1/1048576, $2}'
du -cb "$ROOT"/.devbench[123] | tail -1 | awk '{printf "  %7.1f MiB  total\n", $1/1048576}'
