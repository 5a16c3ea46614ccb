"""Validates every message source-drift wrote against Airbyte's protocol models (PyPI
`airbyte-protocol-models`), and more strictly than they do (they allow extra fields): each message
carries the part its type requires, in the protocol's field names; RECORD data fits the stream's
json_schema from the CATALOG, and each field its meta.changes names is null; STATE is the
per-stream STREAM kind whose sourceStats.recordCount counts the stream's records since its
previous STATE; stream statuses come in order (RUNNING may repeat, with a RATE_LIMITED reason);
an ESTIMATE names a stream; a SPEC is a ConnectorSpecification with documentationUrl and
advanced_auth. With --expect KIND[,KIND], the files together must hold each kind (SPEC, ESTIMATE,
RATE_LIMITED, CHANGES).

usage: validate.py [--expect KINDS] CATALOG.jsonl|- FILE.jsonl...
       (- : no record schemas to check; prints one line per file; exits 1 on a problem)
"""
import json
import sys

import jsonschema
from airbyte_protocol.models import AirbyteMessage, ConnectorSpecification

PART = {"SPEC": "spec", "CONNECTION_STATUS": "connectionStatus", "CATALOG": "catalog",
        "RECORD": "record", "STATE": "state", "LOG": "log", "TRACE": "trace"}
ORDER = ["STARTED", "RUNNING", "COMPLETE"]

argv = sys.argv[1:]
expect = set()
if argv[0] == "--expect":
    expect, argv = set(argv[1].split(",")), argv[2:]
schemas = {}
if argv[0] != "-":
    catalog = [json.loads(l) for l in open(argv[0], encoding="utf-8") if '"CATALOG"' in l][0]
    schemas = {s["name"]: jsonschema.Draft7Validator(s["json_schema"]) for s in catalog["catalog"]["streams"]}
bad, seen_kinds = 0, set()


def platform(m, where, problems, since):
    """The parts the platform shows users: SPEC, ESTIMATE, RATE_LIMITED, meta.changes, sourceStats."""
    if m["type"] == "SPEC":
        spec = ConnectorSpecification.parse_obj(m["spec"])
        if not spec.documentationUrl or not spec.advanced_auth:
            problems.append(f"{where}: a SPEC without documentationUrl or advanced_auth")
        seen_kinds.add("SPEC")
    elif m["type"] == "RECORD":
        r = m["record"]
        since[r["stream"]] = since.get(r["stream"], 0) + 1
        for c in r.get("meta", {}).get("changes", []):
            seen_kinds.add("CHANGES")
            if r["data"].get(c["field"], "absent") is not None:
                problems.append(f"{where}: meta.changes names {c['field']}, which is not null")
    elif m["type"] == "STATE":
        s = m["state"]
        name = s.get("stream", {}).get("stream_descriptor", {}).get("name")
        counted = s.get("sourceStats", {}).get("recordCount")
        if counted != since.pop(name, 0):
            problems.append(f"{where}: sourceStats.recordCount {counted} for {name}, not the records since its last STATE")
    elif m["type"] == "TRACE" and m["trace"]["type"] == "ESTIMATE":
        e = m["trace"]["estimate"]
        seen_kinds.add("ESTIMATE")
        if e["type"] != "STREAM" or not isinstance(e.get("row_estimate"), int):
            problems.append(f"{where}: an ESTIMATE that is not a STREAM row estimate")
    elif m["type"] == "TRACE" and m["trace"]["type"] == "STREAM_STATUS":
        for reason in m["trace"]["stream_status"].get("reasons", []):
            seen_kinds.add(reason["type"])
            if m["trace"]["stream_status"]["status"] != "RUNNING":
                problems.append(f"{where}: a {reason['type']} reason on a status that is not RUNNING")


for path in argv[1:]:
    problems, kinds, statuses, since = [], {}, {}, {}
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        where = f"{path}:{n}"
        try:
            AirbyteMessage.parse_raw(line)
        except Exception as e:  # noqa: BLE001 - the model's complaint is the finding
            problems.append(f"{where}: not an AirbyteMessage: " + " ".join(str(e).split()))
            continue
        m = json.loads(line)
        kinds[m["type"]] = kinds.get(m["type"], 0) + 1
        if PART[m["type"]] not in m:
            problems.append(f"{where}: {m['type']} without `{PART[m['type']]}`")
        try:
            platform(m, where, problems, since)
        except Exception as e:  # noqa: BLE001 - the model's complaint is the finding
            problems.append(f"{where}: " + " ".join(str(e).split()))
        if m["type"] == "RECORD":
            r = m["record"]
            if not isinstance(r["emitted_at"], int):
                problems.append(f"{where}: emitted_at is not an integer")
            for e in list(schemas[r["stream"]].iter_errors(r["data"]) if schemas else [])[:1]:
                problems.append(f"{where}: {r['stream']} record does not fit its schema: {e.message}")
        elif m["type"] == "STATE":
            s = m["state"]
            if s.get("type") != "STREAM" or "name" not in s.get("stream", {}).get("stream_descriptor", {}):
                problems.append(f"{where}: a STATE that is not a per-stream STREAM state")
        elif m["type"] == "TRACE" and m["trace"]["type"] == "STREAM_STATUS":
            st = m["trace"]["stream_status"]
            seen = statuses.setdefault(st["stream_descriptor"]["name"], [])
            repeat = st["status"] == "RUNNING" and seen and seen[-1] == "RUNNING"
            if not repeat and st["status"] in ORDER and seen and seen[-1] in ORDER and ORDER.index(st["status"]) <= ORDER.index(seen[-1]):
                problems.append(f"{where}: status {st['status']} after {seen[-1]}")
            seen.append(st["status"])
    unfinished = [s for s, seen in statuses.items() if seen[-1] not in ("COMPLETE", "INCOMPLETE")]
    if unfinished:
        problems.append(f"{path}: streams that never completed: {unfinished}")
    for p in problems[:10]:
        print("      " + p)
    bad += len(problems)
    print(f"      {path}: {sum(kinds.values())} messages valid ({json.dumps(kinds, sort_keys=True)})" if not problems else f"      {path}: {len(problems)} problems")
missing = expect - seen_kinds
if missing:
    print(f"      none of these among the messages: {sorted(missing)}")
sys.exit(1 if bad or missing else 0)
