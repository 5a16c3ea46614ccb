"""The records per stream an incremental sandbox run sends, from the emulator's counts and the catalog.

usage: expected.py TRUTH.json CATALOG.json [LEAVE_OUT ...]  ->  prints {"stream": count, ...} as JSON

TRUTH.json is what the sandbox wrote with TAP_DRIFT_SANDBOX_TRUTH: the emulator's own counts, after
its changes. A stream read whole (FULL_TABLE in the catalog) that has a list of its own sends every
record; the others (incremental streams, and streams fetched by id as their parents reference them)
send what changed. Streams with nothing to send are left out, as count.py leaves them out, and so
are the streams named after the files.
"""
import json
import sys

truth = json.load(open(sys.argv[1], encoding="utf-8"))
catalog = json.load(open(sys.argv[2], encoding="utf-8"))
leave_out = set(sys.argv[3:])
expected = {}
for entry in catalog["streams"]:
    stream = entry["stream"]
    metadata = next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
    counts = truth[stream]
    whole = metadata["replication-method"] == "FULL_TABLE" and counts["listed"]
    n = counts["records"] if whole else counts["changed"]
    if n and stream not in leave_out:
        expected[stream] = n
print(json.dumps(expected, sort_keys=True))
