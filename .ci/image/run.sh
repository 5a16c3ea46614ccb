#!/usr/bin/env bash
# The connector image, end to end: installs podman and buildah from Debian's packages when missing,
# builds the image as the README says (release binary, airbyte/stage.sh, airbyte/Dockerfile),
# checks its config (entrypoint, AIRBYTE_ENTRYPOINT, labels, user) and its files (nothing but what
# was staged), then runs spec, check, discover and read with "sandbox": true inside it, a config
# without a token, and a check against http://localhost:9 (a name must resolve in the image).
# Every message is validated with airbyte-protocol-models, and the records per stream must equal
# the same binary's outside the image. Where no container can start, the image's exported
# filesystem runs by chroot instead (chroot_run.py), and it says which way it proved the image;
# TAP_DRIFT_IMAGE_RUN=chroot forces that way. Ends with a line "image: N passed, M failed".
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$REPO/.ci/image"
AB="$REPO/.ci/consumers/airbyte"
WORK="$REPO/target/image-check"
rm -rf "$WORK"
mkdir -p "$WORK/data"
export PIP_DISABLE_PIP_VERSION_CHECK=1

. "$REPO/.ci/checks.sh"

# 1. The tools, from Debian (runc too: crun cannot start a container on every kernel's cgroups).
missing=()
for tool in podman buildah runc; do command -v "$tool" > /dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]} from Debian"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > "$WORK/apt.log"
fi
echo "      $(podman --version), $(buildah --version | cut -d'(' -f1)"
(python3 -m venv "$WORK/venv" && "$WORK/venv/bin/pip" install --quiet airbyte-protocol-models==0.18.0 jsonschema==4.23.0) \
    > "$WORK/pip.log" 2>&1 &
pip_pid=$!

# 2. The image, with the README's commands.
VERSION=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["package"]["version"])')
IMAGE="source-drift:$VERSION"
echo "== building $IMAGE"
cd "$REPO"
cargo build --release --locked --quiet --bin source-drift
sh airbyte/stage.sh > "$WORK/stage.log"
podman build --quiet -f airbyte/Dockerfile -t "$IMAGE" target/airbyte-image > /dev/null
cd "$WORK"
podman image inspect "$IMAGE" > inspect.json
container=$(podman create "$IMAGE")
podman export "$container" -o rootfs.tar
podman rm "$container" > /dev/null

# 3. Its config and files.
field() { podman image inspect --format "{{$1}}" "$IMAGE"; }
config() {
    local ok=0
    equal "Entrypoint" "[/usr/local/bin/source-drift]" "$(field .Config.Entrypoint)" || ok=1
    equal "AIRBYTE_ENTRYPOINT" "AIRBYTE_ENTRYPOINT=/usr/local/bin/source-drift" \
        "$(field .Config.Env | tr ' []' '\n' | grep '^AIRBYTE_ENTRYPOINT=')" || ok=1
    equal "label io.airbyte.name" "source-drift" "$(field 'index .Config.Labels "io.airbyte.name"')" || ok=1
    equal "label io.airbyte.version (Cargo.toml's)" "$VERSION" "$(field 'index .Config.Labels "io.airbyte.version"')" || ok=1
    equal "User" "airbyte" "$(field .Config.User)" || ok=1
    equal "WorkingDir" "/airbyte" "$(field .Config.WorkingDir)" || ok=1
    # the registry metadata names this image
    equal "metadata.yaml dockerRepository" "source-drift" "$(awk '$1 == "dockerRepository:" { print $2 }' "$REPO/airbyte/metadata.yaml")" || ok=1
    equal "metadata.yaml dockerImageTag" "$VERSION" "$(awk '$1 == "dockerImageTag:" { print $2 }' "$REPO/airbyte/metadata.yaml")" || ok=1
    return $ok
}
files() { # the image holds exactly the staged files; /airbyte is airbyte's, /tmp anyone's
    local ok=0
    equal "files in the image" "$(cd "$REPO/target/airbyte-image/root" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')" \
        "$(tar -tvf rootfs.tar | awk '$1 ~ /^-/ { print $NF }' | sort | tr '\n' ' ')" || ok=1
    equal "/airbyte" "drwxr-xr-x 1000/1000" "$(tar --numeric-owner -tvf rootfs.tar | awk '$NF == "airbyte/" { print $1, $2 }')" || ok=1
    equal "/tmp" "drwxrwxrwt" "$(tar -tvf rootfs.tar | awk '$NF == "tmp/" { print $1 }')" || ok=1
    return $ok
}
check "image config: entrypoint, AIRBYTE_ENTRYPOINT, labels io.airbyte.name and io.airbyte.version, user airbyte; metadata.yaml names it" config
check "image files: the binary, the libraries ldd lists, /etc/passwd; /airbyte owned by airbyte" files

# 4. A way to run it: a container if one can start here, else chroot into its exported filesystem.
#    DATA is the folder the image sees as /data.
LIMITS=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096) # lowered: raising needs CAP_SYS_RESOURCE
WAYS=("podman run" "podman run ${LIMITS[*]}" "podman --runtime runc run ${LIMITS[*]}")
RUN=()
DATA="$WORK/data"
if [ "${TAP_DRIFT_IMAGE_RUN:-}" != chroot ]; then
    for way in "${WAYS[@]}"; do
        read -ra cmd <<< "timeout 300 $way --rm --network=none -v $WORK/data:/data:ro"
        if "${cmd[@]}" "$IMAGE" spec > /dev/null 2> run-try.log; then RUN=("${cmd[@]}" "$IMAGE"); break; fi
        echo "      cannot: $way: $(head -n 1 run-try.log)"
    done
fi
if [ ${#RUN[@]} -gt 0 ]; then
    echo "== proving the image in a container: ${RUN[*]:2}"
else
    why="no container can start here"
    [ "${TAP_DRIFT_IMAGE_RUN:-}" != chroot ] || why="TAP_DRIFT_IMAGE_RUN=chroot"
    echo "== $why: proving the image by chroot into its exported filesystem, as its user"
    mkdir rootfs
    tar --numeric-owner -xf rootfs.tar -C rootfs
    DATA="$WORK/rootfs/data"
    mkdir "$DATA"
    cp /etc/hosts rootfs/etc/hosts # as a container runtime provides it
    RUN=(timeout 300 python3 "$HERE/chroot_run.py" "$WORK/rootfs" "$WORK/inspect.json")
fi
echo '{"sandbox": true}' > "$DATA/config.json"
echo '{}' > "$DATA/no-token.json"
echo '{"access_token": "x", "api_url": "http://localhost:9", "max_retry_minutes": 0}' > "$DATA/localhost.json"

# 5. The connector, inside the image.
SOURCE="$REPO/target/release/source-drift"
in_image() {
    "${RUN[@]}" spec > spec.jsonl
    "${RUN[@]}" check --config /data/config.json > check.jsonl
    "${RUN[@]}" discover --config /data/config.json > discover.jsonl
    python3 "$AB/configure.py" discover.jsonl > "$DATA/catalog.json"
    "${RUN[@]}" read --config /data/config.json --catalog /data/catalog.json > read.jsonl
    if "${RUN[@]}" read --config /data/no-token.json --catalog /data/catalog.json > error.jsonl; then
        echo "      a config without a token did not fail"
        return 1
    fi
    grep -q '"failure_type":"config_error"' error.jsonl || { echo "      no config_error TRACE"; return 1; }
    grep -q '"status":"SUCCEEDED"' check.jsonl || { echo "      check did not succeed"; return 1; }
}
valid() {
    wait "$pip_pid" || { cat pip.log; return 1; }
    venv/bin/python "$AB/validate.py" discover.jsonl spec.jsonl check.jsonl discover.jsonl read.jsonl error.jsonl
}
counts() { # records for every stream, as many as the same binary reads outside the image
    local ok=0 inside
    "$SOURCE" read --config "$DATA/config.json" --catalog "$DATA/catalog.json" > outside.jsonl
    inside=$(python3 "$AB/count.py" read.jsonl)
    echo "      records per stream: $inside"
    equal "records, inside and outside the image" "$(python3 "$AB/count.py" outside.jsonl)" "$inside" || ok=1
    equal "streams with records" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["streams"]))' "$DATA/catalog.json")" \
        "$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$inside")" || ok=1
    return $ok
}
resolves() { # a name resolves inside the image: its libc reads the /etc/hosts a runtime provides
    "${RUN[@]}" check --config /data/localhost.json > localhost.jsonl || true
    grep -q 'Connection refused' localhost.jsonl || { grep -v '"LOG"' localhost.jsonl | head -c 400; return 1; }
}
check "inside the image: spec, check (SUCCEEDED), discover, read, and a config_error without a token" in_image
check "inside the image: localhost resolves (check against http://localhost:9 is refused, not a DNS error)" resolves
check "every message validates against airbyte-protocol-models" valid
check "the image's read: records for every stream, as many as outside it" counts

# 6. Its size, as stored and as `docker load` takes it.
podman save -o source-drift.tar "$IMAGE" 2> /dev/null
echo "== $IMAGE: $(field .Size) bytes in storage; saved: $(stat -c %s source-drift.tar) bytes, gzipped: $(gzip -c source-drift.tar | wc -c) bytes"
echo "image: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
