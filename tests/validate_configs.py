"""Validates YAML training configs against the config's JSON Schema (configs/vsr_flow.schema.json).

    .venv-test/bin/python tests/validate_configs.py SCHEMA.json CONFIG.yaml...

Prints one JSON object, {"schema": [problems of the schema itself], "configs": {path: [errors]}},
each error as "JSON/path: message"; the test (tests/e2e/config_schema_test.cpp) reads it. YAML
is read with YAML 1.2 scalars, as editors (yaml-language-server) read it: `off` and `no` are
strings, `1e-4` is a number.
"""
import json
import re
import sys

import jsonschema
import yaml


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with the YAML 1.2 core schema's booleans, integers and floats."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag.rsplit(":", 1)[-1] not in ("bool", "int", "float", "timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"))
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"))


def construct_int(loader, node):
    text = loader.construct_scalar(node)
    if text.startswith(("0o", "0x")):
        return int(text, 0)
    return int(text, 10)


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", construct_int)


def location(error):
    return "/".join(str(part) for part in error.absolute_path) or "(root)"


def main(argv):
    with open(argv[1]) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    report = {"schema": [], "configs": {}}
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as e:
        report["schema"].append(f"{location(e)}: {e.message}")
    if cls is not jsonschema.Draft7Validator:
        report["schema"].append(f"$schema is not draft-07: {schema.get('$schema')}")
    validator = cls(schema)
    for path in argv[2:]:
        try:
            with open(path) as f:
                # As JSON, which is what the schema describes.
                document = json.loads(json.dumps(yaml.load(f, Loader=Yaml12Loader)))
            errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
            report["configs"][path] = [f"{location(e)}: {e.message}" for e in errors]
        except (OSError, yaml.YAMLError) as e:
            report["configs"][path] = [f"cannot read: {e}"]
    json.dump(report, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(sys.argv)
