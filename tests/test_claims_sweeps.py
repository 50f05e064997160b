"""The claim kinds run as sweeps on the serial, joblib and Dask back ends with identical
records, `riemlin report` draws their figures, and the shipped sweep files load."""

from pathlib import Path

import pytest

from riemlin.experiments import load_sweep, read_results, report, run_sweep

ROOT = Path(__file__).resolve().parent.parent

TINY = {
    "flatness": {"fixed": {"n_steps": 200, "t_end": 40.0}, "grid": {"step_ratio": [0.5, 3.0]}},
    "imbalance_rate": {
        "fixed": {"m": 2, "n": 3, "n_times": 41, "t_end": 10.0, "n_steps": 200},
        "grid": {"lam": [-1.0, 1.0]},
    },
    "imbalance_departure": {
        "fixed": {"t_end": 1.0, "n_times": 3},
        "grid": {"strength": [0.0, 0.1]},
    },
    "balancedness": {"fixed": {"n_steps": 30}, "grid": {"step": [0.01, 0.1]}},
}


def _sweep(kind):
    return {"sweep": {"name": f"tiny-{kind}", "kind": kind, "seeds": 1, "seed": 3}} | TINY[kind]


def _records(path):
    return {
        r["run_id"]: {k: v for k, v in r.items() if k not in ("runtime", "checksum")}
        for r in read_results(path).rows
    }


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = {}
    for kind in TINY:
        path = tmp_path_factory.mktemp("serial") / f"{kind}.csv"
        summary = run_sweep(_sweep(kind), path)
        assert summary.complete and summary.recorded == 2
        out[kind] = path
    return out


def test_joblib_matches_serial(serial, tmp_path):
    for kind, path in serial.items():
        summary = run_sweep(_sweep(kind), tmp_path / f"{kind}.csv", backend="joblib", jobs=2)
        assert summary.complete
        assert _records(tmp_path / f"{kind}.csv") == _records(path), kind


def test_dask_matches_serial(serial, dask_client, tmp_path):
    for kind, path in serial.items():
        summary = run_sweep(
            _sweep(kind), tmp_path / f"{kind}.csv", backend="dask", client=dask_client
        )
        assert summary.complete
        assert _records(tmp_path / f"{kind}.csv") == _records(path), kind


def test_a_step_past_the_edge_is_a_recorded_divergence(serial):
    rows = {r["step_ratio"]: r for r in read_results(serial["flatness"]).rows}
    assert rows["0.5"]["status"] == "0"
    assert rows["3.0"]["status"] == "-2" and "divergence" in rows["3.0"]["message"]
    assert float(rows["3.0"]["gf_sharpness"]) > 0  # the flow's records survive the failure


def test_report_draws_each_claim_figure(serial, tmp_path):
    names = {
        "flatness": "flatness.png",
        "imbalance_rate": "imbalance_rate.png",
        "imbalance_departure": "imbalance_departure.png",
        "balancedness": "balancedness.png",
    }
    for kind, path in serial.items():
        out = report(path, tmp_path / kind)
        assert (tmp_path / kind / names[kind]).stat().st_size > 10_000, kind
        assert tmp_path / kind / names[kind] in out["files"]


@pytest.mark.parametrize(
    "name",
    ["flatness.toml", "imbalance_rate.toml", "imbalance_departure.toml", "balancedness.toml"],
)
def test_shipped_claim_sweeps_load(name):
    sweep = load_sweep(ROOT / "examples" / "sweeps" / name)
    assert len(sweep) >= 100
