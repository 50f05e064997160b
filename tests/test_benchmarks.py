"""The benchmark suite runs at small sizes (timings are reported, never asserted)."""

import json
import math

from benchmarks.__main__ import main


def test_benchmarks_quick(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["rows"]
    for row in report["rows"]:
        assert math.isfinite(row["ratio"]), row["name"]
        # ratios of times, sizes and counts are positive; a fitted exponent of the time
        # (the scaling rows) can have either sign at the tiny quick sizes, where the
        # timings are noise
        if "exponent" not in row["name"]:
            assert row["ratio"] > 0, row["name"]
    assert "ratio" in capsys.readouterr().out
