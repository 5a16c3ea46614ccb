"""Counts RECORD messages per stream in a Singer stream file, and writes its last STATE value.

usage: count.py OUT.jsonl [STATE_OUT.json]  ->  prints {"stream": count, ...} as JSON
"""
import collections
import json
import sys

counts = collections.Counter()
last_state = None
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        msg = json.loads(line)
        if msg["type"] == "RECORD":
            counts[msg["stream"]] += 1
        elif msg["type"] == "STATE":
            last_state = msg["value"]
if len(sys.argv) > 2:
    if last_state is None:
        sys.exit("no STATE in " + sys.argv[1])
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(last_state, f)
print(json.dumps(dict(sorted(counts.items()))))
