#!/bin/sh
# Stages the build context of the source-drift connector image (airbyte/Dockerfile): a root
# filesystem holding the binary, exactly the shared libraries `ldd` lists for it (the dynamic
# loader included), the user `airbyte` (uid 1000) in /etc/passwd, and an empty /tmp for the
# client's spool files. Touches nothing outside OUT. Linux only (it reads the binary with ldd).
# usage: sh airbyte/stage.sh [BINARY [OUT]]   (default target/release/source-drift target/airbyte-image)
set -eu
BIN=${1:-target/release/source-drift}
OUT=${2:-target/airbyte-image}
[ -x "$BIN" ] || { echo "no binary at $BIN: run cargo build --release --locked --bin source-drift first" >&2; exit 1; }
rm -rf "$OUT"
ROOT="$OUT/root"
mkdir -p "$ROOT/usr/local/bin" "$ROOT/etc" "$ROOT/tmp" "$OUT/home"
cp "$BIN" "$ROOT/usr/local/bin/source-drift"
# "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)";
# a static binary lists none (ldd fails on it, and that is fine)
for lib in $(ldd "$BIN" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
done
chmod 1777 "$ROOT/tmp"
echo 'airbyte:x:1000:1000:airbyte:/airbyte:/nonexistent' > "$ROOT/etc/passwd"
echo 'airbyte:x:1000:' > "$ROOT/etc/group"
echo 'hosts: files dns' > "$ROOT/etc/nsswitch.conf"
echo "staged $(find "$ROOT" -type f | wc -l) files in $OUT:"
(cd "$ROOT" && find . -type f | sort | sed 's/^\./      /')
