"""Validates the Meltano Hub definitions under hub/_data/meltano/extractors/ as the Hub does
(utility_scripts/plugin_definitions/plugin_schema_validate.py and yaml_check_names.py in
meltano/hub): Draft 7, a registry of the common and plugin_definitions schemas by $id, and each
file's name equal to its folder's. Then makes sure the validator can fail: a copy without the
required `quality`, and one with a setting kind the Hub does not know, must both be refused.
Usage: python validate.py SCHEMAS_DIR DATA_DIR. Exits 1 on any failure."""

import copy
import json
import sys
from pathlib import Path

import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

schemas, data = Path(sys.argv[1]), Path(sys.argv[2])
resources = []
for folder in ("common", "plugin_definitions"):
    for source in sorted((schemas / folder).glob("*.json")):
        schema = json.loads(source.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7)))
registry = Registry().with_resources(resources)
validator = Draft7Validator(
    json.loads((schemas / "plugin_definitions/extractors.schema.json").read_text()), registry=registry
)

failed = 0
files = sorted((data / "meltano/extractors").glob("*/*.yml"))
if not files:
    sys.exit("      no plugin definitions found")
for path in files:
    plugin = yaml.safe_load(path.read_text())
    errors = [e.message for e in validator.iter_errors(plugin)]
    if plugin.get("name") != path.parent.name:
        errors.append(f"name {plugin.get('name')} is not its folder's, {path.parent.name}")
    if plugin.get("variant") != path.stem:
        errors.append(f"variant {plugin.get('variant')} is not its file's, {path.stem}")
    for e in errors:
        print(f"      {path.name}: {e}")
    failed += bool(errors)
    print(f"      {path.parent.name}/{path.name}: {len(plugin['settings'])} settings, "
          f"capabilities {', '.join(plugin['capabilities'])}: {'invalid' if errors else 'valid'}")
    no_quality = copy.deepcopy(plugin)
    del no_quality["quality"]
    bad_kind = copy.deepcopy(plugin)
    bad_kind["settings"][0]["kind"] = "secret"
    for what, broken in (("without quality", no_quality), ("with an unknown setting kind", bad_kind)):
        if validator.is_valid(broken):
            print(f"      the schemas accepted {path.name} {what}")
            failed += 1
sys.exit(1 if failed else 0)
