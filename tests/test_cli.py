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
