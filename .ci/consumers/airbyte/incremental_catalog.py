"""The tap's Singer catalog with every stream selected, and read incrementally where it has a
replication key: what an Airbyte client asks of source-drift, as a Singer run.

usage: incremental_catalog.py CATALOG.json > INCREMENTAL_CATALOG.json
"""
import json
import sys

catalog = json.load(open(sys.argv[1], encoding="utf-8"))
for stream in catalog["streams"]:
    for m in stream["metadata"]:
        if m["breadcrumb"] != []:
            continue
        m["metadata"]["selected"] = True
        keys = m["metadata"].get("valid-replication-keys")
        if keys:
            m["metadata"].update({"replication-method": "INCREMENTAL", "replication-key": keys[0]})
print(json.dumps(catalog))
