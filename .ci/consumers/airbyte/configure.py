"""A configured catalog from source-drift's CATALOG message: every stream, incremental with its
default cursor where it can be, else full refresh.

usage: configure.py DISCOVER.jsonl > CONFIGURED_CATALOG.json
"""
import json
import sys

catalog = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if '"CATALOG"' in l][0]["catalog"]
streams = []
for s in catalog["streams"]:
    incremental = "incremental" in s["supported_sync_modes"]
    streams.append({"stream": s, "sync_mode": "incremental" if incremental else "full_refresh",
                    "cursor_field": s.get("default_cursor_field", []),
                    "destination_sync_mode": "append_dedup" if incremental else "overwrite",
                    "primary_key": s.get("source_defined_primary_key", [])})
print(json.dumps({"streams": streams}))
