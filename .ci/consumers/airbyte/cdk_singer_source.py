"""tap-drift run as an Airbyte source by airbyte-cdk's own Singer-tap wrapper (`SingerSource`,
shipped by airbyte-cdk up to 0.81.6), on the sandbox: the wrapper discovers with the tap, turns a
configured catalog into a Singer one, runs the tap and translates its output.

One adapter is needed, whatever the tap: 0.81.6's entrypoint counts records per stream state and
fails on the untyped (legacy) state its own SingerSource emits ("State message was not in
per-stream state format"), so each Singer STATE is passed on as per-stream STREAM states, and
those are turned back into a Singer state for the tap's next run.

usage: TAP_DRIFT=/path/to/tap-drift python cdk_singer_source.py read --config C --catalog C
"""
import json
import os
import shlex
import sys

from airbyte_cdk.entrypoint import launch
from airbyte_cdk.models import (AirbyteConnectionStatus, AirbyteMessage, AirbyteStateBlob,
                                AirbyteStateMessage, AirbyteStateType, AirbyteStreamState,
                                ConnectorSpecification, Status, StreamDescriptor, Type)
from airbyte_cdk.sources.singer.source import SingerSource

TAP = shlex.quote(os.environ["TAP_DRIFT"])


def per_stream(message):
    """A Singer STATE as the wrapper passes it on → one STREAM state per bookmarked stream."""
    for name, bookmark in (message.state.data or {}).get("bookmarks", {}).items():
        state = AirbyteStateMessage(type=AirbyteStateType.STREAM, stream=AirbyteStreamState(
            stream_descriptor=StreamDescriptor(name=name), stream_state=AirbyteStateBlob.parse_obj(bookmark)))
        yield AirbyteMessage(type=Type.STATE, state=state)


class SourceTapDrift(SingerSource):
    def spec(self, logger):
        return ConnectorSpecification(connectionSpecification={"type": "object", "properties": {}})

    def check_config(self, logger, config_path, config):
        ok = os.system(f"{TAP} --sandbox --config {shlex.quote(config_path)} --test > /dev/null 2>&1") == 0
        return AirbyteConnectionStatus(status=Status.SUCCEEDED if ok else Status.FAILED)

    def discover_cmd(self, logger, config_path):
        return f"{TAP} --config {shlex.quote(config_path)} --discover"

    def read_cmd(self, logger, config_path, catalog_path, state_path=None):
        state = ""
        if state_path:  # the STREAM states Airbyte kept → the tap's Singer state
            streams = json.load(open(state_path, encoding="utf-8"))
            bookmarks = {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"] for s in streams}
            singer_state = os.path.join(os.path.dirname(config_path), "singer_state.json")
            json.dump({"bookmarks": bookmarks}, open(singer_state, "w", encoding="utf-8"))
            state = f" --state {shlex.quote(singer_state)}"
        return f"{TAP} --sandbox --config {shlex.quote(config_path)} --catalog {shlex.quote(catalog_path)}{state}"

    def read(self, logger, config, catalog_path, state_path=None):
        for message in super().read(logger, config, catalog_path, state_path):
            if message.type == Type.STATE:
                yield from per_stream(message)
            else:
                yield message


if __name__ == "__main__":
    launch(SourceTapDrift(), sys.argv[1:])
