import subprocess
import sys

from riemlin.cli import main


def test_demo_runs_and_reaches_optimum(capsys):
    assert main(["demo", "--m", "10", "--n", "8", "--k", "2", "--depth", "3"]) == 0
    assert "relative gap" in capsys.readouterr().out


def test_bad_arguments_exit_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "riemlin.cli", "demo", "--k", "50"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "k must satisfy" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "riemlin.cli", "demo", "--k", "two"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def _one_line_exit_2(argv, capsys, match):
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and match in err, err


def test_cli_checks_paths_packages_and_sizes_before_any_work(tmp_path, capsys, monkeypatch):
    import importlib.util

    sweep = tmp_path / "s.toml"
    sweep.write_text("")
    _one_line_exit_2(["sweep", str(tmp_path)], capsys, "is not a file")
    _one_line_exit_2(
        ["sweep", str(sweep), "--results", str(tmp_path / "missing" / "r.csv")],
        capsys,
        "does not exist",
    )
    _one_line_exit_2(["sweep", str(sweep), "--results", str(tmp_path)], capsys, "is a directory")
    _one_line_exit_2(["sweep", str(sweep), "--results", "/proc/r.csv"], capsys, "cannot write")
    results = tmp_path / "r.csv"
    results.write_text("x")
    _one_line_exit_2(["report", str(results), "--out", str(results)], capsys, "is a file")
    _one_line_exit_2(
        ["verify", "--plot", str(tmp_path / "missing" / "x.png")], capsys, "does not exist"
    )
    _one_line_exit_2(["verify", "--plot", str(tmp_path / "x.xyz")], capsys, "cannot write .xyz")
    _one_line_exit_2(["verify", "--m", "10000000"], capsys, "allowed")
    _one_line_exit_2(["demo", "--m", "100000", "--n", "100000"], capsys, "allowed")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("joblib", "distributed") else real(name, *a),
    )
    _one_line_exit_2(["sweep", str(sweep), "--backend", "joblib"], capsys, "needs the joblib")
    _one_line_exit_2(
        ["sweep", str(sweep), "--backend", "dask", "--local-cluster", "1"], capsys, "distributed"
    )


def test_cli_read_only_directory_is_refused(tmp_path, capsys):
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # root writes anyway: nothing to refuse here
            return
        _one_line_exit_2(["verify", "--plot", str(ro / "x.png")], capsys, "cannot write")
    finally:
        ro.chmod(0o755)


def test_cli_other_errors_are_not_bad_arguments(monkeypatch):
    # a TypeError from a bug inside riemlin must surface, not become "exit 2"
    import riemlin.experiments.demo

    def broken(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(riemlin.experiments.demo, "low_rank_approximation", broken)
    try:
        main(["demo", "--m", "4", "--n", "3", "--k", "1"])
    except TypeError as exc:
        assert "a bug" in str(exc)
    else:
        raise AssertionError("the TypeError was swallowed")


def test_demo_with_optimum_zero(capsys):
    # k = min(m, n): the optimum is 0 and the gap is relative to L(0)
    for argv in (["--m", "3", "--n", "3", "--k", "3"], ["--m", "1", "--n", "1", "--k", "1"]):
        assert main(["demo", *argv]) == 0
        assert "optimum 0 " in capsys.readouterr().out


def test_verify_refuses_depth_one_below_full_rank_and_passes_at_full_rank(capsys, tmp_path):
    _one_line_exit_2(["verify", "--depth", "1"], capsys, "needs depth >= 2")
    _one_line_exit_2(["verify", "--widths", "4,5", "--k", "2"], capsys, "needs depth >= 2")
    code = main(["verify", "--depth", "1", "--k", "4", "--plot", "", "--t-end", "1"])
    assert code == 0 and "PASS" in capsys.readouterr().out
