#!/usr/bin/env bash
# Runs the README's Meltano recipe as written: every ```sh block that follows a
# `<!-- ci: meltano-recipe -->` line, in order, in one bash, in a fresh folder holding the clone (a link
# to this repository, so that the recipe's `cd ..` lands in that folder). Two lines are replaced, and
# only these:
# - `cargo install --locked --path .`: CI has built the binary already; its folder goes on PATH instead.
# - `meltano add target-postgres --variant meltanolabs`: the Meltano Hub is not reachable from CI, so the
#   loader comes from the Hub's own definition of that variant (a copy, with pip_url pinned to the version
#   the other checks use): `meltano add target-postgres --from-ref .ci/hub/target-postgres--meltanolabs.yml`.
# The recipe's `meltano config set target-postgres host/port/password` values stay as written; this
# script's environment (TARGET_POSTGRES_HOST, _PORT, _PASSWORD) points the loader at CI's cluster, as
# Meltano lets the environment override meltano.yml.
# Usage: readme_recipe.sh REPO FOLDER BIN_DIR PGPORT. Leaves FOLDER/drift-project behind.
set -euo pipefail
REPO=$1 FOLDER=$2 BIN=$3 PGPORT=$4
rm -rf "$FOLDER"
mkdir -p "$FOLDER"
ln -s "$REPO" "$FOLDER/tap-drift"
python3 - "$REPO/README.md" "$REPO/.ci/hub/target-postgres--meltanolabs.yml" > "$FOLDER/recipe.sh" <<'PY'
import re, sys
readme, loader = sys.argv[1], sys.argv[2]
blocks = re.findall(r"<!-- ci: meltano-recipe -->\n```sh\n(.*?)```", open(readme).read(), re.S)
if len(blocks) < 3:
    sys.exit(f"the README has {len(blocks)} meltano-recipe blocks, not the 3 or more expected")
script = "\n".join(blocks)
replaced = {
    "cargo install --locked --path .\n": "",
    "meltano add target-postgres --variant meltanolabs\n": f"meltano add target-postgres --from-ref {loader}\n",
}
for line, by in replaced.items():
    if line not in script:
        sys.exit(f"the recipe no longer has the line {line.strip()!r}: update .ci/consumers/readme_recipe.sh")
    script = script.replace(line, by)
print("set -euxo pipefail\n" + script)
PY
cd "$FOLDER/tap-drift"
PATH="$BIN:$PATH" TARGET_POSTGRES_HOST=127.0.0.1 TARGET_POSTGRES_PORT=$PGPORT TARGET_POSTGRES_PASSWORD=x \
    MELTANO_SEND_ANONYMOUS_USAGE_STATS=false bash "$FOLDER/recipe.sh" < /dev/null
