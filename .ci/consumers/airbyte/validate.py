"""Validates every message source-drift wrote against Airbyte's protocol models (PyPI
`airbyte-protocol-models`), and more strictly than they do (they allow extra fields): each message
carries the part its type requires, in the protocol's field names; RECORD data fits the stream's
json_schema from the CATALOG; STATE is the per-stream STREAM kind; stream statuses come in order.

usage: validate.py CATALOG.jsonl FILE.jsonl...   (prints one line per file; exits 1 on a problem)
"""
import json
import sys

import jsonschema
from airbyte_protocol.models import AirbyteMessage

PART = {"SPEC": "spec", "CONNECTION_STATUS": "connectionStatus", "CATALOG": "catalog",
        "RECORD": "record", "STATE": "state", "LOG": "log", "TRACE": "trace"}
ORDER = ["STARTED", "RUNNING", "COMPLETE"]

catalog = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if '"CATALOG"' in l][0]
schemas = {s["name"]: jsonschema.Draft7Validator(s["json_schema"]) for s in catalog["catalog"]["streams"]}
bad = 0
for path in sys.argv[2:]:
    problems, kinds, statuses = [], {}, {}
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
        if m["type"] == "RECORD":
            r = m["record"]
            if not isinstance(r["emitted_at"], int):
                problems.append(f"{where}: emitted_at is not an integer")
            for e in list(schemas[r["stream"]].iter_errors(r["data"]))[:1]:
                problems.append(f"{where}: {r['stream']} record does not fit its schema: {e.message}")
        elif m["type"] == "STATE":
            s = m["state"]
            if s.get("type") != "STREAM" or "name" not in s.get("stream", {}).get("stream_descriptor", {}):
                problems.append(f"{where}: a STATE that is not a per-stream STREAM state")
        elif m["type"] == "TRACE" and m["trace"]["type"] == "STREAM_STATUS":
            st = m["trace"]["stream_status"]
            seen = statuses.setdefault(st["stream_descriptor"]["name"], [])
            if st["status"] in ORDER and seen and seen[-1] in ORDER and ORDER.index(st["status"]) <= ORDER.index(seen[-1]):
                problems.append(f"{where}: status {st['status']} after {seen[-1]}")
            seen.append(st["status"])
    unfinished = [s for s, seen in statuses.items() if seen[-1] not in ("COMPLETE", "INCOMPLETE")]
    if unfinished:
        problems.append(f"{path}: streams that never completed: {unfinished}")
    for p in problems[:10]:
        print("      " + p)
    bad += len(problems)
    print(f"      {path}: {sum(kinds.values())} messages valid ({json.dumps(kinds, sort_keys=True)})" if not problems else f"      {path}: {len(problems)} problems")
sys.exit(1 if bad else 0)
