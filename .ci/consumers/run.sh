#!/usr/bin/env bash
# End-to-end checks of tap-drift's output against the real consumers, on the built-in sandbox
# (the Drift emulator, over HTTP on 127.0.0.1): singer-check-tap, target-jsonl, MeltanoLabs and
# pipelinewise target-postgres on a private PostgreSQL cluster, and Meltano (twice, incrementally,
# with its own state; its log lines parsed), meltano-map-transformer after the tap, two Drift orgs
# (two inheriting extractors), the README's Meltano recipe as written, the Meltano Hub definition
# against the Hub's schemas, plus a Meltano install from a wheel (pip_url); then source-drift, the
# Airbyte source, under Airbyte's protocol models and PyAirbyte, and tap-drift under airbyte-cdk's
# Singer-tap wrapper.
# Needs: the Rust toolchain, Python 3 with venv, and root for apt-get when PostgreSQL is missing.
# Ends with a line "N passed, M failed"; exits 1 if any check failed.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$REPO/.ci/consumers"
WORK="$REPO/target/consumers"
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false PIP_DISABLE_PIP_VERSION_CHECK=1

. "$REPO/.ci/checks.sh"

# 1. The tap, as users build it.
echo "== building tap-drift (release)"
(cd "$REPO" && cargo build --release --locked --quiet)
TAP="$REPO/target/release/tap-drift"
SOURCE="$REPO/target/release/source-drift"

# 2. The consumers, each in its own virtual environment, installed side by side.
echo "== installing the consumers from PyPI"
declare -A PKG=(
    [meltano]="meltano==4.4.1"
    [mlpg]="meltanolabs-target-postgres==0.8.1"
    [pwpg]="pipelinewise-target-postgres==2.1.2"
    [jsonl]="target-jsonl==0.1.4"
    [st]="singer-tools==0.4.1"
    [maturin]="maturin>=1.5,<2"
    [pyairbyte]="airbyte==0.71.3"
    [abproto]="airbyte-protocol-models==0.18.0 jsonschema==4.23.0"
    [abcdk]="airbyte-cdk==0.81.6"
    [map]="meltano-map-transform==0.12.3"
    [hub]="jsonschema==4.23.0 PyYAML==6.0.2"
)
pids=()
for v in "${!PKG[@]}"; do
    # (unquoted: an entry may name several packages)
    # shellcheck disable=SC2086
    (python3 -m venv "venv-$v" && "venv-$v/bin/pip" install --quiet ${PKG[$v]}) > "pip-$v.log" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do
    wait "$p" || { cat pip-*.log; echo "a PyPI install failed"; exit 1; }
done

# 3. A private PostgreSQL cluster on a free loopback port (installed from Debian if missing).
echo "== starting PostgreSQL"
if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql > /dev/null
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
id postgres > /dev/null 2>&1 || useradd --system --no-create-home postgres
PGDATA=$(mktemp -d /tmp/tap-drift-pg.XXXXXX)
chown postgres "$PGDATA"
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 --no-locale > "$WORK/initdb.log"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDATA" start > /dev/null
trap 'runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop > /dev/null 2>&1 || true; rm -rf "$PGDATA"' EXIT
psql() { "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -d drift -X -q -tA "$@"; }
"$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -X -q -c "create database drift"
rows() { psql -c "select count(*) from $1"; }
coltype() { psql -c "select data_type from information_schema.columns where table_schema='$1' and table_name='$2' and column_name='$3'"; }

# 4. The sandbox's truth: what the tap emits (the Rust tests check it against the emulator).
echo "== sandbox runs"
"$TAP" --sandbox > out1.jsonl 2> tap1.log
TRUTH=$(python3 "$HERE/count.py" out1.jsonl state1.json)
echo "      records per stream: $TRUTH"
truth() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$TRUTH" "$1"; }
TAP_DRIFT_SANDBOX_CHANGES=5 TAP_DRIFT_SANDBOX_TRUTH=truth2.json "$TAP" --sandbox --state state1.json > out2.jsonl 2> tap2.log
echo '{"timestamp_format": "date-time"}' > datetime.json
"$TAP" --sandbox --config datetime.json > out-datetime.jsonl 2> tap3.log
STREAMS=$(python3 -c 'import json,sys; print(" ".join(s["stream"] for s in json.load(open(sys.argv[1]))["streams"]))' "$REPO/catalog.json")

# 5. singer-check-tap (stdin mode: its --tap mode is broken on Python 3.11).
valid() { venv-st/bin/singer-check-tap < "$1" > "$1.check" 2>&1 && grep -qx "The output is valid." "$1.check" || { cat "$1.check"; return 1; }; }
check "singer-check-tap: full sync is valid" valid out1.jsonl
check "singer-check-tap: incremental sync from the state is valid" valid out2.jsonl
check "singer-check-tap: date-time output is valid" valid out-datetime.jsonl
# (booked meetings lie around each sandbox's own "now", so a second sandbox sends the ones ahead again)
out2_counts() { python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c.pop("meetings", None); print(json.dumps(c, sort_keys=True))' "$(python3 "$HERE/count.py" out2.jsonl)"; }
# what the emulator says the second run must send: the streams read whole, and what changed (the 5
# conversations, their metrics, their messages with the 5 new ones, their contacts)
OUT2_EXPECTED=$(python3 "$HERE/expected.py" truth2.json "$REPO/catalog.json" meetings)
check "incremental run: 5 changed conversations (their metrics, messages and contacts), the streams read whole" \
    equal "out2 records" "$OUT2_EXPECTED" "$(out2_counts)"

# 6. target-jsonl.
mkdir -p jsonl
echo "{\"destination_path\": \"$WORK/jsonl\"}" > jsonl.json
set -o pipefail
"$TAP" --sandbox 2> /dev/null | venv-jsonl/bin/target-jsonl --config jsonl.json > jsonl-state.json
jsonl_counts() {
    local ok=0
    for s in $STREAMS; do
        equal "target-jsonl $s lines" "$(truth "$s")" "$(cat jsonl/"$s"-*.jsonl | wc -l)" || ok=1
    done
    grep -q bookmarks jsonl-state.json || { echo "      target-jsonl printed no state"; ok=1; }
    return $ok
}
check "target-jsonl: every record of every stream, and the final state" jsonl_counts

# 7. MeltanoLabs target-postgres, default output and date-time output.
mlpg() { # mlpg SCHEMA [TAP ARGS]: loads one sandbox sync into SCHEMA
    local schema=$1
    shift
    echo "{\"host\": \"127.0.0.1\", \"port\": $PGPORT, \"user\": \"postgres\", \"password\": \"x\", \"database\": \"drift\", \"default_target_schema\": \"$schema\"}" > "mlpg-$schema.json"
    "$TAP" --sandbox "$@" 2> /dev/null | venv-mlpg/bin/target-postgres --config "mlpg-$schema.json" > "mlpg-$schema.state" 2> "mlpg-$schema.log" \
        || { tail -20 "mlpg-$schema.log"; return 1; }
}
table_counts() { # table_counts SCHEMA: every table has the tap's record count, keys distinct
    local ok=0
    for s in $STREAMS; do
        equal "$1.$s rows" "$(truth "$s")" "$(rows "$1.$s")" || ok=1
    done
    equal "$1.conversations distinct ids" "$(truth conversations)" "$(psql -c "select count(distinct id) from $1.conversations")" || ok=1
    return $ok
}
ml_types() {
    local ok=0
    equal "conversations.id" "bigint" "$(coltype ml conversations id)" || ok=1
    equal "conversations.updatedAt" "bigint" "$(coltype ml conversations updatedAt)" || ok=1
    equal "conversations.status" "text" "$(coltype ml conversations status)" || ok=1
    equal "users.bot" "boolean" "$(coltype ml users bot)" || ok=1
    equal "conversations.conversationTags" "ARRAY" "$(coltype ml conversations conversationTags)" || ok=1
    equal "contacts.attributes" "jsonb" "$(coltype ml contacts attributes)" || ok=1
    equal "messages.author" "jsonb" "$(coltype ml messages author)" || ok=1
    equal "accounts.accountId" "text" "$(coltype ml accounts accountId)" || ok=1
    return $ok
}
ml_values() {
    local ok=0 deleted
    deleted=$(python3 -c 'import json,sys; print(sum(1 for l in open("out1.jsonl") if (m:=json.loads(l))["type"]=="RECORD" and m["stream"]=="accounts" and m["record"].get("deleted")))')
    equal "bots among users" "2" "$(psql -c 'select count(*) from ml.users where bot')" || ok=1
    equal "deleted accounts" "$deleted" "$(psql -c 'select count(*) from ml.accounts where deleted')" || ok=1
    equal "messages without a conversation" "0" "$(psql -c 'select count(*) from ml.messages m left join ml.conversations c on c.id = m."conversationId" where c.id is null')" || ok=1
    equal "unicode names survive" "t" "$(psql -c "select count(*) > 0 from ml.users where name ~ '[^[:ascii:]]'")" || ok=1
    equal "custom property types kept" "t" "$(psql -c "select count(distinct p->>'type') >= 10 from ml.accounts, unnest(\"customProperties\") p")" || ok=1
    return $ok
}
dt_types() {
    local ok=0
    for col in "conversations updatedAt" "conversations createdAt" "messages createdAt" "accounts updateDateTime" "users createdAt" "contacts createdAt"; do
        set -- $col
        equal "$1.$2" "timestamp without time zone" "$(coltype mldt "$1" "$2")" || ok=1
    done
    local newest
    newest=$(python3 -c 'import json; print(max(m["record"]["updatedAt"] for l in open("out1.jsonl") if (m:=json.loads(l))["type"]=="RECORD" and m["stream"]=="conversations"))')
    equal "newest updatedAt, to the millisecond" "$newest" \
        "$(psql -c 'select (extract(epoch from max("updatedAt")) * 1000)::bigint from mldt.conversations')" || ok=1
    return $ok
}
check "MeltanoLabs target-postgres: loads the sandbox sync" mlpg ml
check "MeltanoLabs target-postgres: row counts equal the tap's records" table_counts ml
check "MeltanoLabs target-postgres: column types" ml_types
check "MeltanoLabs target-postgres: sample values" ml_values
check "MeltanoLabs target-postgres: loads the date-time sync" mlpg mldt --config datetime.json
check "MeltanoLabs target-postgres: date-time columns are timestamps" dt_types

# 8. pipelinewise-target-postgres.
pwpg() { # pwpg SCHEMA [TAP ARGS]: loads one sandbox sync into SCHEMA
    local schema=$1
    shift
    echo "{\"host\": \"127.0.0.1\", \"port\": $PGPORT, \"user\": \"postgres\", \"password\": \"x\", \"dbname\": \"drift\", \"default_target_schema\": \"$schema\"}" > "pwpg-$schema.json"
    "$TAP" --sandbox "$@" 2> /dev/null | venv-pwpg/bin/target-postgres --config "pwpg-$schema.json" > "pwpg-$schema.state" 2> "pwpg-$schema.log" \
        || { tail -20 "pwpg-$schema.log"; return 1; }
}
check "pipelinewise target-postgres: loads the sandbox sync" pwpg pw
check "pipelinewise target-postgres: row counts equal the tap's records" table_counts pw

# 8b. Every field reaches the warehouse, in both targets: a field no column table declares (the
#     sandbox's TAP_DRIFT_SANDBOX_NEW_FIELDS switch gives every record one) becomes a column of a
#     table that already exists, with the emulator's values; flattening makes objects columns.
echo '{"flattening_enabled": true, "flattening_max_depth": 1}' > flat.json
new_column() { # new_column LOADER SCHEMA: a plain sync, then one whose records carry new fields
    local ok=0
    "$1" "$2" || return 1
    TAP_DRIFT_SANDBOX_NEW_FIELDS=1 "$1" "$2" || return 1
    equal "$2.conversations rows with the new priority column" "$(truth conversations)" \
        "$(psql -c "select count(*) from $2.conversations where priority = 'high'")" || ok=1
    equal "$2.accounts rows with the new segment column" "$(truth accounts)" \
        "$(psql -c "select count(*) from $2.accounts where segment = 'enterprise'")" || ok=1
    return $ok
}
flattened() { # flattened LOADER SCHEMA INTEGER_TYPE: messages.author as author__id, author__type, author__bot
    local ok=0
    "$1" "$2" --config flat.json || return 1
    equal "$2.messages.author__id type" "$3" "$(coltype "$2" messages author__id)" || ok=1
    equal "$2.messages rows with author__id" "$(truth messages)" \
        "$(psql -c "select count(author__id) from $2.messages")" || ok=1
    equal "$2.messages user authors" \
        "$(python3 -c 'import json; print(sum(1 for l in open("out1.jsonl") if (m:=json.loads(l))["type"]=="RECORD" and m["stream"]=="messages" and m["record"]["author"]["type"]=="user"))')" \
        "$(psql -c "select count(*) from $2.messages where author__type = 'user'")" || ok=1
    return $ok
}
typed_attributes() { # typed_attributes SCHEMA NUMERIC_TYPE: contacts' custom attributes as typed columns
    local ok=0 scored
    scored=$(python3 -c 'import json; print(sum(1 for l in open("out1.jsonl") if (m:=json.loads(l))["type"]=="RECORD" and m["stream"]=="contacts" and m["record"].get("lead_score") is not None))')
    equal "$1.contacts.lead_score type" "$2" "$(coltype "$1" contacts lead_score)" || ok=1
    equal "$1.contacts.is_customer type" "boolean" "$(coltype "$1" contacts is_customer)" || ok=1
    equal "$1.contacts rows with a lead_score" "$scored" "$(psql -c "select count(lead_score) from $1.contacts")" || ok=1
    equal "$1.contacts lead scores equal the attributes' (as numbers)" "0" \
        "$(psql -c "select count(*) from $1.contacts where lead_score is distinct from (attributes->>'lead_score')::double precision")" || ok=1
    return $ok
}
# (MeltanoLabs types a number column numeric, pipelinewise double precision)
check "MeltanoLabs target-postgres: a typed custom contact attribute" typed_attributes ml numeric
check "pipelinewise target-postgres: a typed custom contact attribute" typed_attributes pw "double precision"
check "MeltanoLabs target-postgres: a field no column table declares becomes a column with its values" new_column mlpg mlnew
check "pipelinewise target-postgres: a field no column table declares becomes a column with its values" new_column pwpg pwnew
# (pipelinewise types every integer column numeric)
check "MeltanoLabs target-postgres: a flattened sync" flattened mlpg mlflat bigint
check "pipelinewise target-postgres: a flattened sync" flattened pwpg pwflat numeric

# 9. Meltano, twice: the second run is incremental, from Meltano's own state.
echo "== meltano"
mkdir -p meltano
printf '#!/usr/bin/env bash\nexec "%s" --sandbox "$@"\n' "$TAP" > meltano/tap-drift-sandbox
chmod +x meltano/tap-drift-sandbox
venv-meltano/bin/python - "$HERE/meltano/meltano.yml" meltano/meltano.yml "$WORK" "$PGPORT" <<'EOF'
import sys, yaml
src, dst, work, port = sys.argv[1:]
project = yaml.safe_load(open(src))
project["plugins"]["extractors"][0]["executable"] = f"{work}/meltano/tap-drift-sandbox"
# the hub is not reachable here: the loader is a custom plugin run from its virtual environment
project["plugins"]["loaders"] = [{
    "name": "target-postgres", "namespace": "target_postgres",
    "executable": f"{work}/venv-mlpg/bin/target-postgres",
    "settings": [{"name": n} for n in ("host", "port", "user", "password", "database", "default_target_schema")],
    "config": {"host": "127.0.0.1", "port": int(port), "user": "postgres", "password": "x",
               "database": "drift", "default_target_schema": "$MELTANO_EXTRACT__LOAD_SCHEMA"},
}]
extractors = project["plugins"]["extractors"]
extractors[0]["load_schema"] = "meltano"
# one extractor per Drift organization, as the README's recipe has them, each with its own emulated
# account (another seed) standing for its own token
for org, seed in (("acme", "11"), ("globex", "12")):
    extractors.append({"name": f"tap-drift--{org}", "inherit_from": "tap-drift",
                       "load_schema": f"drift_{org}", "env": {"TAP_DRIFT_SANDBOX_SEED": seed}})
# meltano-map-transformer (the Hub's name), from its virtual environment, with the README's mapping
project["plugins"]["mappers"] = [{
    "name": "meltano-map-transformer", "namespace": "meltano_map_transformer",
    "executable": f"{work}/venv-map/bin/meltano-map-transform",
    "settings": [{"name": "stream_maps", "kind": "object"}],
    "mappings": [{"name": "drift-tidy", "config": {"stream_maps": {
        "users": {"__alias__": "agents", "phone": "__NULL__", "email": "md5(email)"}}}}],
}]
yaml.safe_dump(project, open(dst, "w"), sort_keys=False)
EOF
meltano() { (cd "$WORK/meltano" && "$WORK/venv-meltano/bin/meltano" "$@"); }
m_run1() { meltano run tap-drift target-postgres > meltano-run1.log 2>&1 || { tail -30 meltano-run1.log; return 1; }; }
m_state() {
    meltano state get dev:tap-drift-to-target-postgres > meltano-state.json 2> /dev/null || return 1
    python3 - meltano-state.json <<'EOF'
import json, sys
text = open(sys.argv[1]).read()
state = json.loads(text[text.index("{"):])
bookmarks = state["singer_state"]["bookmarks"]
missing = {"accounts", "conversations", "messages"} - set(bookmarks)
sys.exit(f"      no bookmarks for {missing}" if missing else 0)
EOF
}
m_run2() { TAP_DRIFT_SANDBOX_CHANGES=5 TAP_DRIFT_SANDBOX_DELETIONS=2 meltano run tap-drift target-postgres > meltano-run2.log 2>&1 || { tail -30 meltano-run2.log; return 1; }; }
m_incremental() {
    local ok=0
    grep -q "stream finished stream=conversations records=5 " meltano-run2.log || { echo "      run 2 did not read exactly the 5 changed conversations"; ok=1; }
    grep -q "stream finished stream=accounts records=0 " meltano-run2.log || { echo "      run 2 re-read accounts"; ok=1; }
    equal "meltano.conversations rows" "$(truth conversations)" "$(rows meltano.conversations)" || ok=1
    equal "meltano.messages rows (5 new)" "$(($(truth messages) + 5))" "$(rows meltano.messages)" || ok=1
    equal "meltano.contacts rows" "$(truth contacts)" "$(rows meltano.contacts)" || ok=1
    equal "reopened or closed conversations" "5" "$(psql -c "select count(*) from meltano.conversations c join ml.conversations o using (id) where c.status <> o.status")" || ok=1
    return $ok
}
m_deleted() { # users are read whole (FULL_TABLE + ACTIVATE_VERSION): the 2 deleted ones are marked
    local ok=0
    equal "meltano.users rows (deleted ones kept, marked)" "$(truth users)" "$(rows meltano.users)" || ok=1
    equal "users deleted in Drift, marked _sdc_deleted_at" "2" "$(psql -c 'select count(*) from meltano.users where _sdc_deleted_at is not null')" || ok=1
    equal "the deleted ones are the first two" "1290000 1290013" "$(psql -c 'select id from meltano.users where _sdc_deleted_at is not null order by id' | tr '\n' ' ' | sed 's/ $//')" || ok=1
    return $ok
}
m_structured() { # the tap declares structured-logging: Meltano parses its lines (level, message with fields)
    grep -Eq '\[info +\] tap-drift +stream finished stream=conversations records=' meltano-run1.log \
        || { echo "      no parsed 'stream finished' line of tap-drift"; return 1; }
    if grep -Eq 'tap-drift +(INFO|\{)' meltano-run1.log; then echo "      unparsed tap-drift lines"; return 1; fi
}
m_config_test() { meltano config test tap-drift > meltano-config-test.log 2>&1 || { tail -5 meltano-config-test.log; return 1; }; }
m_select() { meltano select tap-drift --list --all > meltano-select.log 2>&1 && grep -q "conversations.participants" meltano-select.log; }
check "meltano run tap-drift target-postgres (1st run)" m_run1
check "meltano: row counts equal the tap's records" table_counts meltano
check "meltano: state has bookmarks for every incremental stream" m_state
check "meltano run tap-drift target-postgres (2nd run, incremental)" m_run2
check "meltano: 2nd run added only what changed" m_incremental
check "meltano: users deleted in Drift get _sdc_deleted_at (ACTIVATE_VERSION)" m_deleted
check "meltano parses tap-drift's log lines (structured-logging)" m_structured
check "meltano config test tap-drift" m_config_test
check "meltano select tap-drift --list --all" m_select

# 9b. The Meltano Hub definition (generated from the settings table) against the Hub's own schemas.
check "the Meltano Hub definition validates against the Hub's schemas" \
    venv-hub/bin/python "$REPO/.ci/hub/validate.py" "$REPO/.ci/hub/schemas" "$REPO/hub/_data"

# 9c. meltano-map-transformer between the tap and the loader: a stream aliased, a field dropped, an
#     email hashed (users become agents, without phone, email as md5(email)).
m_mapped() {
    TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=mapped TAP_DRIFT__SELECT='["users.*", "accounts.*"]' \
        meltano run --state-id-suffix mapped tap-drift drift-tidy target-postgres > meltano-mapped.log 2>&1 || { tail -30 meltano-mapped.log; return 1; }
    local ok=0
    equal "mapped.agents rows" "$(truth users)" "$(rows mapped.agents)" || ok=1
    equal "a users table" "0" "$(psql -c "select count(*) from information_schema.tables where table_schema='mapped' and table_name='users'")" || ok=1
    equal "mapped.agents.phone columns" "0" "$(psql -c "select count(*) from information_schema.columns where table_schema='mapped' and table_name='agents' and column_name='phone'")" || ok=1
    equal "emails hashed: md5 of the tap's" "$(truth users)" \
        "$(psql -c 'select count(*) from mapped.agents a join ml.users u using (id) where a.email = md5(u.email)')" || ok=1
    equal "mapped.accounts rows (not mapped)" "$(truth accounts)" "$(rows mapped.accounts)" || ok=1
    return $ok
}
check "meltano run tap-drift meltano-map-transformer target-postgres: alias, drop, hash" m_mapped

# 9d. Two Drift organizations: two extractors inheriting from tap-drift, each with its own emulated
#     account (TAP_DRIFT_SANDBOX_SEED), its own schema (load_schema) and its own state ID.
orgs_setup() {
    local ok=0
    for org in acme:11 globex:12; do
        TAP_DRIFT_SANDBOX_SEED=${org#*:} "$TAP" --sandbox > "org-${org%:*}.jsonl" 2> /dev/null || return 1
    done
    ACME=$(python3 "$HERE/count.py" org-acme.jsonl)
    GLOBEX=$(python3 "$HERE/count.py" org-globex.jsonl)
    echo "      acme: $ACME"
    echo "      globex: $GLOBEX"
    [ "$ACME" != "$GLOBEX" ] || { echo "      the two emulated accounts are the same"; ok=1; }
    return $ok
}
org_rows() { # org_rows ORG COUNTS: every table of the org's schema has the org's records
    local ok=0
    for s in $STREAMS; do
        equal "drift_$1.$s rows" "$(python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$2" "$s")" "$(rows "drift_$1.$s")" || ok=1
    done
    return $ok
}
orgs_run() { # orgs_run N [ENV...]: both orgs, one `meltano run` each, as an orchestrator would
    local n=$1 org
    shift
    for org in acme globex; do
        (cd "$WORK/meltano" && env "$@" "$WORK/venv-meltano/bin/meltano" run "tap-drift--$org" target-postgres) \
            > "meltano-$org-$n.log" 2>&1 || { tail -30 "meltano-$org-$n.log"; return 1; }
    done
}
orgs_first() {
    orgs_run 1 || return 1
    local ok=0
    org_rows acme "$ACME" || ok=1
    org_rows globex "$GLOBEX" || ok=1
    equal "the orgs' users differ (same ids, other names)" "t" \
        "$(psql -c 'select count(*) > 0 from drift_acme.users a join drift_globex.users g using (id) where a.name <> g.name')" || ok=1
    return $ok
}
orgs_state() {
    local ok=0
    meltano state list > meltano-states.log 2>&1 || return 1
    grep -qx "dev:tap-drift--acme-to-target-postgres" meltano-states.log || { echo "      no state ID for acme"; ok=1; }
    grep -qx "dev:tap-drift--globex-to-target-postgres" meltano-states.log || { echo "      no state ID for globex"; ok=1; }
    return $ok
}
orgs_second() {
    orgs_run 2 TAP_DRIFT_SANDBOX_CHANGES=5 || return 1
    local ok=0 org
    for org in acme globex; do
        grep -q "stream finished stream=conversations records=5 " "meltano-$org-2.log" || { echo "      $org: run 2 did not read exactly the 5 changed conversations"; ok=1; }
        grep -q "stream finished stream=accounts records=0 " "meltano-$org-2.log" || { echo "      $org: run 2 re-read accounts"; ok=1; }
    done
    equal "drift_acme.messages rows (5 new)" "$(($(python3 -c "import json,sys; print(json.loads(sys.argv[1])['messages'])" "$ACME") + 5))" "$(rows drift_acme.messages)" || ok=1
    return $ok
}
check "two orgs: two emulated accounts that differ" orgs_setup
check "two orgs: meltano run per org, each into its own schema with its own rows" orgs_first
check "two orgs: a state ID per org" orgs_state
check "two orgs: both incremental on the second run" orgs_second

# 9e. The README's Meltano recipe, run as written (see the script for the two lines it replaces): a
#     new project, the extractor from the Hub definition, the loader, and a sandbox run.
readme_recipe() {
    bash "$HERE/readme_recipe.sh" "$REPO" "$WORK/recipe" "$(dirname "$TAP")" "$PGPORT" > recipe.log 2>&1 \
        || { tail -40 recipe.log; return 1; }
    table_counts tap_drift
}
check "the README's Meltano recipe runs as written and loads every record" readme_recipe

# 10. Meltano installing the tap from a wheel (pip_url), as users without a Rust toolchain do.
wheel_install() {
    (cd "$REPO" && "$WORK/venv-maturin/bin/maturin" build --release --locked --quiet -o "$WORK/wheels") > maturin.log 2>&1 || { tail -5 maturin.log; return 1; }
    local whl
    whl=$(ls "$WORK"/wheels/tap_drift-*.whl)
    mkdir -p pip-project
    cat > pip-project/meltano.yml <<EOF
version: 1
default_environment: dev
environments: [{name: dev}]
send_anonymous_usage_stats: false
project_id: tap-drift-pip
plugins:
  extractors:
  - {name: tap-drift, namespace: tap_drift, pip_url: "$whl", executable: tap-drift, capabilities: [catalog, discover, state, about, test, activate-version]}
EOF
    (cd pip-project && "$WORK/venv-meltano/bin/meltano" install > ../pip-install.log 2>&1 \
        && "$WORK/venv-meltano/bin/meltano" invoke tap-drift --about --format json > ../pip-about.json 2> /dev/null) \
        || { tail -10 pip-install.log; return 1; }
    python3 -c 'import json,sys; d=json.load(open("pip-about.json")); sys.exit(0 if d["name"]=="tap-drift" else 1)'
}
check "meltano installs tap-drift from a wheel (pip_url) and runs it" wheel_install

# 11. Airbyte: source-drift's messages under Airbyte's protocol models, PyAirbyte end to end, and
# tap-drift under airbyte-cdk's Singer-tap wrapper. The reference is the tap's own Singer runs with
# every stream that can be incremental read so (as Airbyte clients ask), then 5 changes later.
echo "== airbyte"
python3 "$HERE/airbyte/incremental_catalog.py" "$REPO/catalog.json" > incremental-catalog.json
"$TAP" --sandbox --catalog incremental-catalog.json > inc1.jsonl 2> /dev/null
FULL=$(python3 "$HERE/count.py" inc1.jsonl inc1-state.json)
TAP_DRIFT_SANDBOX_CHANGES=5 "$TAP" --sandbox --catalog incremental-catalog.json --state inc1-state.json > inc2.jsonl 2> /dev/null
INCREMENTAL=$(python3 "$HERE/count.py" inc2.jsonl)
check "tap-drift: an incremental catalog's first run reads what the default run reads" equal "records" "$TRUTH" "$FULL"
ab_messages() {
    echo '{"sandbox": true}' > ab-config.json
    echo '{}' > ab-no-token.json
    "$SOURCE" spec > ab-spec.jsonl
    "$SOURCE" check --config ab-config.json > ab-check.jsonl
    "$SOURCE" discover --config ab-config.json > ab-discover.jsonl
    python3 "$HERE/airbyte/configure.py" ab-discover.jsonl > ab-catalog.json
    "$SOURCE" read --config ab-config.json --catalog ab-catalog.json > ab-read1.jsonl
    python3 "$HERE/airbyte/kept_state.py" ab-read1.jsonl > ab-state.json
    TAP_DRIFT_SANDBOX_CHANGES=5 "$SOURCE" read --config ab-config.json --catalog ab-catalog.json --state ab-state.json > ab-read2.jsonl
    if "$SOURCE" read --config ab-no-token.json --catalog ab-catalog.json > ab-error.jsonl; then
        echo "      a config without a token did not fail"
        return 1
    fi
    grep -q '"failure_type":"config_error"' ab-error.jsonl || { echo "      no config_error TRACE"; return 1; }
    venv-abproto/bin/python "$HERE/airbyte/validate.py" --expect SPEC,ESTIMATE ab-discover.jsonl \
        ab-spec.jsonl ab-check.jsonl ab-discover.jsonl ab-read1.jsonl ab-read2.jsonl ab-error.jsonl
}
# What only the emulator's faults bring out (the sandbox has none): the integration tests of what
# the platform shows users save every source-drift run's messages, and the models validate them.
ab_platform() {
    rm -rf ab-platform && mkdir ab-platform
    (cd "$REPO" && SOURCE_DRIFT_MESSAGES_DIR="$WORK/ab-platform" cargo test --locked --quiet --test it airbyte_platform:: \
        > "$WORK/ab-platform.log" 2>&1) || { tail -20 ab-platform.log; return 1; }
    venv-abproto/bin/python "$HERE/airbyte/validate.py" --expect SPEC,ESTIMATE,RATE_LIMITED,CHANGES - ab-platform/*.jsonl \
        > ab-platform-valid.log || { grep -v "messages valid" ab-platform-valid.log; return 1; }
    echo "      $(ls ab-platform | wc -l) runs' messages valid, with ESTIMATE, RATE_LIMITED and meta.changes among them"
}
ab_counts() {
    local ok=0
    equal "source-drift full read" "$FULL" "$(python3 "$HERE/airbyte/count.py" ab-read1.jsonl)" || ok=1
    equal "source-drift incremental read (meetings aside)" "$(python3 "$HERE/airbyte/count.py" --no-meetings inc2.jsonl)" \
        "$(python3 "$HERE/airbyte/count.py" --no-meetings ab-read2.jsonl)" || ok=1
    return $ok
}
pyairbyte() {
    mkdir -p pyairbyte
    (cd pyairbyte && AIRBYTE_OFFLINE_MODE=1 DO_NOT_TRACK=1 "$WORK/venv-pyairbyte/bin/python" -W ignore \
        "$HERE/airbyte/pyairbyte_e2e.py" "$SOURCE" "$FULL" "$INCREMENTAL" > ../pyairbyte.log 2>&1) \
        || { tail -30 pyairbyte.log; return 1; }
    grep "^      [a-z]* read:" pyairbyte.log
}
cdk_singer() {
    mkdir -p cdk
    echo "      airbyte-cdk $(venv-abcdk/bin/python -c 'import importlib.metadata as m; print(m.version("airbyte-cdk"))'), airbyte_cdk.sources.singer.SingerSource"
    (cd cdk && bash "$HERE/airbyte/cdk_e2e.sh" "$WORK/venv-abcdk/bin/python" "$TAP" "$FULL" "$INCREMENTAL")
}
check "source-drift: spec, check, discover, two reads and a failure validate against airbyte-protocol-models" ab_messages
check "source-drift: records per stream equal the tap's, in both reads" ab_counts
check "source-drift: ESTIMATE, RATE_LIMITED, meta.changes and sourceStats from the emulator's faults validate against airbyte-protocol-models" ab_platform
check "PyAirbyte: check, discover, full read into DuckDB, incremental read from its state; counts equal the tap's" pyairbyte
check "airbyte-cdk's SingerSource runs tap-drift: full and incremental reads equal the tap's" cdk_singer

# Row counts, for the record.
echo "== rows loaded (schema: table rows)"
for schema in ml pw meltano; do
    line="$schema:"
    for s in $STREAMS; do line="$line $s=$(rows "$schema.$s")"; done
    echo "      $line"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
