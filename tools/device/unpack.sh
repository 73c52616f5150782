#!/usr/bin/env bash
# Runs on the device machine: restores the bundle that tools/device/make-bundle.sh built.
#   bash unpack.sh DEST DIR...
# Each DIR holds either app.tar.xz.part-* (unpacked into DEST/devbench: JRE, jars, scripts) or
# nd4jcpu.so.xz.part-* (libnd4jcpu.so, put back into DEST/devbench/lib's nd4j-native jar, stored) or
# mkl.jar.xz.part-* (Intel MKL's runtime libraries for AVX-512 CPUs, a jar named in DIR/MKLJAR, into
# DEST/devbench/lib; without it the bundle runs on OpenBLAS). The app archive must be restored before
# (or in the same call as) the others. All parts of one archive must lie in one DIR. Uses xz when
# present, else python3's lzma. Checks the SHA256SUMS written beside the parts.
set -euo pipefail
DEST=${1:?usage: unpack.sh DEST DIR...}
shift
mkdir -p "$DEST"
unxz_to() { # unxz_to OUTFILE < stream
  if command -v xz >/dev/null; then xz -d -T0 -c > "$1"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), open(sys.argv[1], "wb"), 1 << 20)' "$1"; fi
}
for DIR in "$@"; do
  for kind in app.tar.xz nd4jcpu.so.xz mkl.jar.xz; do
    ls "$DIR"/$kind.part-* >/dev/null 2>&1 || continue
    t0=$(date +%s.%N)
    cat "$DIR"/$kind.part-* > "$DEST/$kind"
    SUMS=$(cd "$DIR" && pwd)/SHA256SUMS
    (cd "$DEST" && grep " $kind\$" "$SUMS" | sha256sum -c --quiet) || { echo "checksum mismatch for $kind from $DIR" >&2; exit 1; }
    if [ $kind = app.tar.xz ]; then
      unxz_to "$DEST/app.tar" < "$DEST/$kind"
      tar -C "$DEST" -xf "$DEST/app.tar"
      rm -f "$DEST/app.tar"
      "$DEST/devbench/jre/bin/java" -version 2>&1 | head -1
    elif [ $kind = mkl.jar.xz ]; then
      [ -d "$DEST/devbench/lib" ] || { echo "restore app.tar.xz (.devbench1) before MKL" >&2; exit 1; }
      unxz_to "$DEST/devbench/lib/$(cat "$DIR/MKLJAR")" < "$DEST/$kind"
      echo "MKL: $(cat "$DIR/MKLJAR") restored into $DEST/devbench/lib"
    else
      [ -d "$DEST/devbench/lib" ] || { echo "restore app.tar.xz (.devbench1) before the library" >&2; exit 1; }
      unxz_to "$DEST/libnd4jcpu.so" < "$DEST/$kind"
      python3 - "$DEST" <<'EOF'
import glob, os, sys, zipfile
dest = sys.argv[1]
jar = os.path.join(dest, "devbench/lib", open(os.path.join(dest, "devbench/nd4jcpu-jar.txt")).read().strip())
entry = "org/nd4j/linalg/cpu/nativecpu/bindings/linux-x86_64/libnd4jcpu.so"
with zipfile.ZipFile(jar, "a", zipfile.ZIP_STORED) as z:
    if entry not in z.namelist():
        z.write(os.path.join(dest, "libnd4jcpu.so"), entry)
print(os.path.basename(jar), "now holds", entry)
EOF
      rm -f "$DEST/libnd4jcpu.so"
    fi
    rm -f "$DEST/$kind"
    echo "restored $kind from $DIR in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
  done
done
