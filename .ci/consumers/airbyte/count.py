"""Records per stream in a file of Singer or Airbyte messages, as JSON (streams without records
left out); with --no-meetings, booked meetings left out too (they lie around each sandbox's own
"now", so a later sandbox sends the ones ahead again).

usage: count.py [--no-meetings] FILE.jsonl
"""
import json
import sys

args = sys.argv[1:]
skip = {"meetings"} if args and args[0] == "--no-meetings" else set()
counts = {}
for line in open(args[-1], encoding="utf-8"):
    m = json.loads(line)
    if m["type"] == "RECORD":
        stream = m["stream"] if "stream" in m else m["record"]["stream"]
        if stream not in skip:
            counts[stream] = counts.get(stream, 0) + 1
print(json.dumps(dict(sorted(counts.items()))))
