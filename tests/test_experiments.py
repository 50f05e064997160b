"""Sweeps end to end: back ends, reproducibility, resume, damaged results, bad sweep files."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from riemlin.cli import main
from riemlin.experiments import (
    KINDS,
    Param,
    ResultsError,
    RunKind,
    SweepError,
    load_sweep,
    read_results,
    register_kind,
    report,
    run_sweep,
)
from riemlin.experiments.backends import execute
from riemlin.experiments.results import _cell

ROOT = Path(__file__).resolve().parent.parent

SMALL = {
    "sweep": {
        "name": "small",
        "kind": ["factor_descent", "riemannian_descent"],
        "seeds": 2,
        "seed": 7,
    },
    "fixed": {"m": 4, "n": 3, "k": 2, "hidden": 4, "samples": 8, "n_steps": 60},
    "grid": {"depth": [1, 2], "step": [0.1, 3.0]},
}

SMALL_TOML = """
[sweep]
name = "small"
kind = ["factor_descent", "riemannian_descent"]
seeds = 2
seed = 7

[fixed]
m = 4
n = 3
k = 2
hidden = 4
samples = 8
n_steps = 60

[grid]
depth = [1, 2]
step = [0.1, 3.0]
"""


def _records(path):
    """Rows by run id, without the columns that legitimately differ between runs."""
    rows = read_results(path).rows
    return {
        r["run_id"]: {k: v for k, v in r.items() if k not in ("runtime", "checksum")} for r in rows
    }


@pytest.fixture(scope="module")
def serial_results(tmp_path_factory):
    path = tmp_path_factory.mktemp("serial") / "small.csv"
    summary = run_sweep(SMALL, path)
    assert summary.complete and summary.recorded == 16 and summary.lost == 0
    return path


# ---------------------------------------------------------------------- end to end
def test_toml_and_dict_declare_the_same_sweep(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL_TOML)
    a, b = load_sweep(path), load_sweep(SMALL)
    assert [r.run_id for r in a.runs()] == [r.run_id for r in b.runs()]
    assert len(a) == 16 and a.columns == b.columns


def test_serial_sweep_records_every_run_and_its_failures(serial_results):
    rows = read_results(serial_results).rows
    assert len(rows) == 16 and len({r["run_id"] for r in rows}) == 16
    status = np.array([int(r["status"]) for r in rows])
    steps = np.array([float(r["step"]) for r in rows])
    assert np.all(status[steps == 0.1] == 0)
    diverged = [r for r in rows if r["status"] == "-2"]
    assert diverged and all("divergence" in r["message"] for r in diverged)
    assert all(r["final_loss"] == "nan" for r in diverged)
    assert {r["riemlin_version"] for r in rows} == {__import__("riemlin").__version__}
    # common random numbers: the optimum depends on the replicate only
    for rep in ("0", "1"):
        assert len({r["optimum"] for r in rows if r["replicate"] == rep}) == 1


def test_a_run_is_reproducible_from_its_row_alone(serial_results):
    sweep = load_sweep(SMALL)
    rows = _records(serial_results)
    for run in sweep.runs()[::5]:
        _, record = execute((run.run_id, KINDS[run.kind].function, run.params, run.seed))
        for key in sweep.record + ("status", "message"):
            assert rows[run.run_id][key] == _cell(record.get(key, float("nan"))), key


def test_run_ids_and_seeds_do_not_depend_on_the_process(tmp_path):
    code = (
        "from riemlin.experiments import load_sweep;"
        f"s = load_sweep({SMALL!r});"
        "print(*(r.run_id + str(r.seed.generate_state(2).tolist()) for r in s.runs()))"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    here = [r.run_id + str(r.seed.generate_state(2).tolist()) for r in load_sweep(SMALL).runs()]
    assert out.stdout.split() == [w for x in here for w in x.split()]


def test_joblib_sweep_matches_serial(serial_results, tmp_path):
    summary = run_sweep(SMALL, tmp_path / "j.csv", backend="joblib", jobs=2)
    assert summary.complete and summary.recorded == 16
    assert _records(tmp_path / "j.csv") == _records(serial_results)


def test_dask_sweep_matches_serial(serial_results, dask_client, tmp_path):
    summary = run_sweep(SMALL, tmp_path / "d.csv", backend="dask", client=dask_client)
    assert summary.complete and summary.recorded == 16
    assert _records(tmp_path / "d.csv") == _records(serial_results)


def test_dask_worker_killed_mid_sweep_loses_and_duplicates_nothing(dask_client, tmp_path):
    sweep = {
        "sweep": {"name": "kill", "kind": "factor_descent", "seeds": 6, "seed": 3},
        "fixed": {"m": 4, "n": 3, "k": 2, "hidden": 4, "samples": 8, "n_steps": 1500},
        "grid": {"depth": [2, 3]},
    }
    dask_client.wait_for_workers(2)
    pids = dask_client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed = []

    def kill_once(run, row):
        if not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(run.run_id)

    summary = run_sweep(
        sweep, tmp_path / "k.csv", backend="dask", client=dask_client, on_record=kill_once
    )
    assert killed
    dask_client.wait_for_workers(2, timeout=60)
    assert victim not in dask_client.run(os.getpid).values()  # the worker really died
    assert summary.lost == 0 and summary.complete
    got = _records(tmp_path / "k.csv")
    assert len(read_results(tmp_path / "k.csv").rows) == len(got) == 12
    run_sweep(sweep, tmp_path / "s.csv")
    assert got == _records(tmp_path / "s.csv")


@pytest.mark.slow
def test_cli_sweep_on_a_local_cluster(tmp_path, serial_results):
    toml = tmp_path / "small.toml"
    toml.write_text(SMALL_TOML)
    out = tmp_path / "lc.csv"
    args = ["sweep", str(toml), "--results", str(out), "--local-cluster", "1", "--no-progress"]
    assert main(args) == 0
    assert _records(out) == _records(serial_results)


# ---------------------------------------------------------------------- resume
def test_resume_after_an_interruption_completes_without_duplicates(serial_results, tmp_path):
    path = tmp_path / "r.csv"
    seen = []

    def interrupt(run, row):
        seen.append(run.run_id)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(SMALL, path, on_record=interrupt)
    assert len(read_results(path).rows) == 5
    with pytest.raises(ResultsError, match="already exists"):
        run_sweep(SMALL, path)
    summary = run_sweep(SMALL, path, resume=True)
    assert (summary.skipped, summary.recorded) == (5, 11) and summary.complete
    assert _records(path) == _records(serial_results)
    again = run_sweep(SMALL, path, resume=True)
    assert again.recorded == 0 and again.complete


# ---------------------------------------------------------------------- damaged results
def _truncate(text):
    return text[:-7]


def _alter_digit(text):
    lines = text.split("\n")
    lines[3] = (
        lines[3].replace("0.1", "0.2", 1) if "0.1" in lines[3] else lines[3].replace("3", "4", 1)
    )
    return "\n".join(lines)


def _drop_field(text):
    lines = text.split("\n")
    fields = lines[2].split(",")
    lines[2] = ",".join(fields[:5] + fields[6:])
    return "\n".join(lines)


def _duplicate(text):
    lines = text.split("\n")
    return "\n".join(lines[:3] + [lines[2]] + lines[3:])


def _foreign_header(text):
    lines = text.split("\n")
    lines[0] = lines[0].replace("gap,", "gap_renamed,", 1)
    return "\n".join(lines)


def _empty(text):
    return ""


@pytest.mark.parametrize(
    "damage, message",
    [
        (_truncate, "truncated: line 17 has no end"),
        (_alter_digit, "corrupted at line 4: checksum mismatch"),
        (_drop_field, "corrupted at line 3: .* fields, expected"),
        (_duplicate, "twice"),
        (_foreign_header, "different sweep"),
        (_empty, "is empty"),
    ],
)
def test_damaged_results_give_a_clear_error_and_stay_untouched(
    serial_results, tmp_path, damage, message
):
    path = tmp_path / "damaged.csv"
    path.write_text(damage(serial_results.read_text()))
    before = path.read_bytes()
    with pytest.raises(ResultsError, match=message):
        run_sweep(SMALL, path, resume=True)
    assert path.read_bytes() == before


def test_binary_garbage_is_refused(serial_results, tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(serial_results.read_bytes()[:300] + b"\xff\xfe\x00\x81" * 10 + b"\n")
    before = path.read_bytes()
    with pytest.raises(ResultsError, match="not UTF-8"):
        run_sweep(SMALL, path, resume=True)
    assert path.read_bytes() == before


# ---------------------------------------------------------------------- bad sweep files
@pytest.mark.parametrize(
    "text, key",
    [
        ("[sweeps]\nname='a'", "'sweeps'"),
        ("[sweep]\nname='a'\nkind='factor_descent'\nseeds=1\nsed=3", "sweep.sed"),
        ("[sweep]\nname='a'\nkind='factor_descent'", "sweep.seeds"),
        ("[sweep]\nname='a'\nkind='gradient'\nseeds=1", "sweep.kind 'gradient'"),
        ("[sweep]\nname='a'\nkind='factor_descent'\nseeds=0", "sweep.seeds must be an int >= 1"),
        ("[sweep]\nname='a'\nkind='factor_descent'\nseeds=true", "sweep.seeds"),
        ("[sweep]\nname='a'\nkind='factor_descent'\nseeds=1\nrecord=['gapp']", "'gapp'"),
        (
            "[sweep]\nname='a'\nkind='factor_descent'\nseeds=1\n[grid]\ndept=[1,2]",
            "grid.dept: unknown key 'dept'",
        ),
        (
            "[sweep]\nname='a'\nkind='factor_descent'\nseeds=1\n[fixed]\nm='6'",
            "fixed.m must be int",
        ),
        ("[sweep]\nname='a'\nkind='factor_descent'\nseeds=1\n[fixed]\nstep=true", "fixed.step"),
        (
            "[sweep]\nname='a'\nkind='factor_descent'\nseeds=1\n[grid]\ndepth=[1,2.5]",
            r"grid.depth\[1\] must be int",
        ),
        (
            "[sweep]\nname='a'\nkind='factor_descent'\nseeds=1\n[grid]\ndepth=3",
            "grid.depth must be",
        ),
        (
            "[sweep]\nname='a'\nkind='factor_descent'\nseeds=1\n[fixed]\ndepth=2\n[grid]\ndepth=[1]",
            "'depth' is both",
        ),
        (
            "[sweep]\nname='a'\nkind=['factor_descent','compare_flows']\nseeds=1\n[fixed]\nstep=0.1",
            "fixed.step: unknown key 'step': kind 'compare_flows'",
        ),
        (
            "[sweep]\nname='a'\nkind='factor_descent'\nseeds=1\n[grid]\nk=[2,9]",
            "cannot run at k=9: k = 9 exceeds",
        ),
        ("[sweep]\nname='a'\nkind='factor_descent'\nseeds=1\n[grid]\nstep=[-1.0]", r"step\[0\]"),
        ("[sweep\nname='a'", "not valid TOML"),
    ],
)
def test_bad_sweep_files_name_the_key(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SweepError, match=key):
        load_sweep(path)
    assert not (tmp_path / "bad.csv").exists()


# ---------------------------------------------------------------------- the registry
def _theorem_like_kind(p, seed):
    x = np.random.default_rng(seed).standard_normal()
    if p["fail"]:
        raise ArithmeticError(f"checked value {x:.3f} is wrong")
    return {"value": x, "status": 0, "message": "ok"}


@pytest.fixture
def custom_kind():
    kind = RunKind(
        "test_custom",
        _theorem_like_kind,
        {"fail": Param(bool, False), "size": Param(int, 3, 1)},
        ("value",),
        ("size",),
    )
    register_kind(kind)
    yield kind
    del KINDS["test_custom"]


def test_registered_kind_runs_and_its_exceptions_become_rows(custom_kind, tmp_path):
    with pytest.raises(ValueError, match="already registered"):
        register_kind(custom_kind)
    sweep = {
        "sweep": {"name": "custom", "kind": "test_custom", "seeds": 3},
        "grid": {"fail": [False, True]},
    }
    summary = run_sweep(sweep, tmp_path / "c.csv")
    rows = read_results(tmp_path / "c.csv").rows
    assert summary.recorded == 6 and summary.failures == 3 and summary.complete
    bad = [r for r in rows if r["fail"] == "1"]
    assert all(r["status"] == "-4" and r["message"].startswith("ArithmeticError") for r in bad)
    # fail is not a draw: both values of fail see the same random number
    for rep in "012":
        values = {r["value"] for r in rows if r["replicate"] == rep and r["fail"] == "0"}
        msgs = [r["message"] for r in bad if r["replicate"] == rep]
        assert f"{float(values.pop()):.3f}" in msgs[0]


# ---------------------------------------------------------------------- report and CLI
def test_report_writes_plots_thresholds_and_a_summary(serial_results, tmp_path):
    out = report(serial_results, tmp_path / "rep")
    names = {p.name for p in out["files"]}
    assert names == {
        "reach_probability.png",
        "gap_distribution.png",
        "step_phase.png",
        "thresholds.csv",
        "summary.txt",
    }
    assert all(p.stat().st_size > 0 for p in out["files"])
    assert "16 runs" in out["summary"] and "divergence threshold" in out["summary"]
    rows = (tmp_path / "rep" / "thresholds.csv").read_text().splitlines()
    assert rows[0].startswith("kind,replicate") and len(rows) == 1 + 2 * 2 * 2
    header = rows[0].split(",")
    for line in rows[1:]:
        row = dict(zip(header, line.split(",")))
        stable, first = float(row["largest_stable_step"]), float(row["first_divergent_step"])
        assert not stable >= first
        if row["kind"] == "riemannian_descent":  # the linear-stability bound is recorded
            assert float(row["step_bound"]) > 0
    assert "[bound" in out["summary"]


def test_cli_exit_codes_and_one_line_errors(tmp_path, capsys, serial_results):
    toml = tmp_path / "small.toml"
    toml.write_text(SMALL_TOML)
    out = tmp_path / "cli.csv"
    assert main(["sweep", str(toml), "--results", str(out), "--no-progress"]) == 0
    assert "16 runs recorded" in capsys.readouterr().out
    assert main(["sweep", str(toml), "--results", str(out)]) == 2  # exists, no --resume
    err = capsys.readouterr().err
    assert "already exists" in err and err.count("\n") == 1
    assert main(["sweep", str(toml), "--results", str(out), "--resume", "--no-progress"]) == 0
    capsys.readouterr()
    for bad in (
        ["sweep"],
        ["sweep", str(toml), "--backend", "threads"],
        ["sweep", str(toml), "--jobs", "2"],
        ["sweep", str(toml), "--backend", "dask"],
        ["sweep", str(toml), "--scheduler", "tcp://x:1", "--local-cluster", "2"],
        ["sweep", str(tmp_path / "missing.toml")],
        ["report", str(tmp_path / "missing.csv")],
    ):
        assert main(bad) == 2, bad
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error" in err, (bad, err)
    assert main(["report", str(out), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "summary.txt").exists()
    out.write_text(out.read_text()[:-3])
    assert main(["report", str(out)]) == 2
    assert "truncated" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["reach_global_minimum.toml", "step_threshold.toml"])
def test_shipped_sweeps_load(name):
    sweep = load_sweep(ROOT / "examples" / "sweeps" / name)
    assert len(sweep) >= 100
