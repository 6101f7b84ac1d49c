"""The README's remaining commands, run for real: `make bench` (its quick form) and `make openapi`."""

from __future__ import annotations

import json
import subprocess
import sys

from local.template import ROOT


def test_make_bench_quick_writes_a_results_file(tmp_path):
    output = tmp_path / "RESULTS.md"
    done = subprocess.run(
        ["make", "-s", "bench", f"BENCH_ARGS=--quick --output {output}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    results = output.read_text()
    for heading in ("## Cold start", "## Cost per message", "## Throughput", "## Overhead"):
        assert heading in results
    assert "| tracked send | 3.00 |" in results  # the cost goal, measured
    assert "| 100% | 0 |" in results  # throughput: everything delivered, no duplicates


def test_make_openapi_reproduces_the_committed_document():
    done = subprocess.run(
        [sys.executable, "-m", "local.openapi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'shared'}", "PATH": "/usr/bin:/bin"},
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads((ROOT / "openapi.json").read_text())
