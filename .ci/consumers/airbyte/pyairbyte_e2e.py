"""PyAirbyte, end to end, against source-drift on the sandbox: check, discover, a full read into
PyAirbyte's default DuckDB cache, then an incremental read from the state PyAirbyte kept, after 5
conversations changed. Records per stream must equal the tap's Singer runs (given as JSON).

usage: pyairbyte_e2e.py SOURCE_DRIFT FULL_COUNTS_JSON INCREMENTAL_COUNTS_JSON
Run with AIRBYTE_OFFLINE_MODE=1 (no registry here). Exits non-zero, saying why, on any mismatch.
"""
import json
import os
import sys

import airbyte as ab

exe, full, incremental = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
incremental = {s: incremental.get(s, 0) for s in full}  # a stream with no record is not counted
problems = []

source = ab.get_source("source-drift", config={"sandbox": True}, local_executable=exe)
source.check()  # raises unless CONNECTION_STATUS is SUCCEEDED
streams = sorted(source.get_available_streams())
if streams != sorted(full):
    problems.append(f"discovered {streams}, the tap has {sorted(full)}")
source.select_all_streams()
cache = ab.get_default_cache()


def read_counts(result):
    # per-stream counts of this read only are kept by PyAirbyte's progress tracker (no public API)
    counts = dict(result._progress_tracker.stream_read_counts)
    if sum(counts.values()) != result.processed_records:
        problems.append(f"counts {counts} do not add up to processed_records {result.processed_records}")
    return {s: counts.get(s, 0) for s in full}


first = source.read(cache=cache)
got = read_counts(first)
print(f"      full read: {json.dumps(got, sort_keys=True)}")
if got != full:
    problems.append(f"full read: {got} != the tap's {full}")
for stream, n in full.items():
    rows = len(first[stream])  # SELECT COUNT(*) on the cache's table
    if rows != n:
        problems.append(f"the cache's {stream} table has {rows} rows, the tap read {n}")

os.environ["TAP_DRIFT_SANDBOX_CHANGES"] = "5"  # the next sandbox has 5 conversations changed
second = source.read(cache=cache)
got = read_counts(second)
# booked meetings lie around each sandbox's own "now": a later sandbox sends the ones ahead again
got.pop("meetings", None)
incremental.pop("meetings", None)
print(f"      incremental read: {json.dumps(got, sort_keys=True)}")
if got != incremental:
    problems.append(f"incremental read: {got} != the tap's {incremental}")
rows = len(second["conversations"])
if rows != full["conversations"]:
    problems.append(f"conversations: {rows} rows after the merge, expected {full['conversations']}")

for p in problems:
    print("      " + p)
sys.exit(1 if problems else 0)
