"""ONNX backend node tests for every op fgq claims (oracle: ONNX's test data in Debian's
libonnx-testdata), and the README's op table is exactly what these results generate."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import conformance  # noqa: E402


@pytest.fixture(scope="module")
def results(fgq_bin):
    if not os.path.isdir(conformance.NODE_DIR):
        pytest.fail(f"{conformance.NODE_DIR} missing: install Debian's libonnx-testdata")
    return conformance.run_all(str(fgq_bin))


def test_every_claimed_op_has_cases(results):
    ops = {r[0] for r in results}
    assert ops == set(conformance.CLAIMED)


def test_no_wrong_results(results):
    fails = [r for r in results if r[2] == "fail"]
    assert not fails, "\n".join(f"{r[0]} {r[1]}: {r[3]}" for r in fails)


def test_readme_op_table_is_generated_from_results(results, repo_root):
    readme = (repo_root / "README.md").read_text()
    table = conformance.op_table(results)
    assert conformance.BEGIN in readme, "README.md lacks the op table markers"
    current = readme.split(conformance.BEGIN, 1)[1].split(conformance.END, 1)[0].strip()
    assert current == table, "README op table is stale: run scripts/conformance.py --update"
