"""The benchmark suite runs at small sizes (timings are reported, never asserted)."""

import json

from benchmarks.__main__ import main


def test_benchmarks_quick(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["rows"]
    for row in report["rows"]:
        assert row["ratio"] > 0
    assert "ratio" in capsys.readouterr().out
