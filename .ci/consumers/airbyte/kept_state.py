"""The state an Airbyte platform keeps after a read: each stream's last STATE message's state.

usage: kept_state.py READ.jsonl > STATE.json
"""
import json
import sys

states = {}
for line in open(sys.argv[1], encoding="utf-8"):
    m = json.loads(line)
    if m["type"] == "STATE":
        states[m["state"]["stream"]["stream_descriptor"]["name"]] = m["state"]
print(json.dumps(list(states.values())))
