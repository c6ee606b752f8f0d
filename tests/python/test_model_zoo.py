"""The CI subset of the model zoo (scripts/model_zoo.py --fast): a MobileNetV3-small at opset 13,
a ShuffleNetV2 at opset 17 and a BERT-style encoder at opset 13, exported by torch with random
weights, each through inspect, convert, float vs ONNX Runtime (relative error <= 1e-4), s8 and
ternary:g4 quantization and runs, and the QDQ export run by ONNX Runtime (agreement >= 20 dB).
The whole zoo and its table: `scripts/model_zoo.py --update` (docs/model-zoo.md).

Needs Debian's python3-torch and python3-torchvision (scripts/install-deps.sh installs them); where
no Python has them the test reports itself skipped.
"""
import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, _fgq_bin

SCRIPT = REPO_ROOT / "scripts" / "model_zoo.py"


def has_torch():
    for py in (sys.executable, "/usr/bin/python3"):
        try:
            if subprocess.run([py, "-c", "import torch, torchvision"], capture_output=True, timeout=120).returncode == 0:
                return True
        except (OSError, subprocess.TimeoutExpired):
            continue
    return False


@pytest.mark.skipif(not has_torch(), reason="no Python with torch and torchvision (apt-get install python3-torch "
                                            "python3-torchvision)")
def test_fast_zoo(tmp_path):
    p = subprocess.run([sys.executable, str(SCRIPT), "--fast", "--json", "--fgq", str(_fgq_bin()), "--results",
                        str(tmp_path / "r.json")], capture_output=True, text=True, timeout=1500)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert set(res) == {"mobilenet_v3_small@96", "shufflenet_v2_x0_5@64", "bert_tiny_encoder@13"}
    for name, r in res.items():
        for step in ("export", "inspect", "convert", "float", "s8", "t2", "qdq"):
            assert r.get(step) == "ok", f"{name}: {step}: {r.get(step)}"
        assert r["unsupported"] == [], f"{name}: {r['unsupported']}"
        assert r["float_rel_err"] <= 1e-4
