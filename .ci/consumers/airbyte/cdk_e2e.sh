#!/usr/bin/env bash
# tap-drift under airbyte-cdk's SingerSource (see cdk_singer_source.py): check, discover, a full
# read with every stream that can be incremental configured so, then an incremental read from the
# states it kept, after 5 conversations changed. Records per stream must equal the tap's Singer runs
# (booked meetings aside in the second: they lie around each sandbox's own "now").
# usage: cdk_e2e.sh PYTHON TAP_DRIFT FULL_COUNTS_JSON INCREMENTAL_COUNTS_JSON (in a scratch folder)
set -euo pipefail
PY=$1
export TAP_DRIFT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
source_() { "$PY" "$HERE/cdk_singer_source.py" "$@"; }
echo '{}' > cdk-config.json
source_ check --config cdk-config.json | grep -q '"SUCCEEDED"' || { echo "      check did not succeed"; exit 1; }
source_ discover --config cdk-config.json > cdk-discover.jsonl
python3 "$HERE/configure.py" cdk-discover.jsonl > cdk-catalog.json
source_ read --config cdk-config.json --catalog cdk-catalog.json > cdk-read1.jsonl 2> cdk-read1.log
python3 "$HERE/kept_state.py" cdk-read1.jsonl > cdk-state.json
TAP_DRIFT_SANDBOX_CHANGES=5 source_ read --config cdk-config.json --catalog cdk-catalog.json --state cdk-state.json > cdk-read2.jsonl 2> cdk-read2.log
full=$(python3 "$HERE/count.py" cdk-read1.jsonl)
incremental=$(python3 "$HERE/count.py" --no-meetings cdk-read2.jsonl)
expected=$(python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c.pop("meetings", None); print(json.dumps(c, sort_keys=True))' "$4")
echo "      full read: $full"
echo "      incremental read: $incremental"
[ "$full" = "$3" ] || { echo "      the tap's full run read $3"; exit 1; }
[ "$incremental" = "$expected" ] || { echo "      the tap's incremental run read $expected"; exit 1; }
