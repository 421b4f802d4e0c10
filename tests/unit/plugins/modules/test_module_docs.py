"""Each module's DOCUMENTATION, EXAMPLES and RETURN parse as YAML and agree
with its argument_spec.

``make docs`` (ansible-doc) checks the same in ``make test-static``; this
catches a broken docstring already in ``make unit``, the step developers run
most often.
"""

import ast
import pathlib

import pytest
import yaml

MODULES = sorted(
    (pathlib.Path(__file__).resolve().parents[4] / "plugins" / "modules").glob("*.py")
)


def _docs(path):
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                found[name] = node.value.value
    return found


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_docs_are_yaml(path):
    docs = _docs(path)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, path.name
    for name, text in docs.items():
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            pytest.fail("%s %s is not valid YAML: %s" % (path.name, name, exc))
        assert parsed, "%s %s is empty" % (path.name, name)
    doc = yaml.safe_load(docs["DOCUMENTATION"])
    assert doc["module"] == path.stem
    for opt, spec in doc.get("options", {}).items():
        assert spec.get("description"), "%s: option %s has no description" % (path.name, opt)
        assert spec.get("type"), "%s: option %s has no type" % (path.name, opt)
