"""``python -m hpcpet jobscript``: the SLURM templates from package data, as pip users get them."""
import os
import stat

from conftest import hpcpet_cli
from hpcpet.commands.jobscript import TEMPLATES, template_text


def test_each_template_is_written_as_shipped_and_executable(tmp_path):
    for name, file in TEMPLATES.items():
        out = tmp_path / name / file
        out.parent.mkdir()
        proc = hpcpet_cli("jobscript", name, "-o", out)
        assert str(out) in proc.stdout
        assert out.read_text() == template_text(name)
        assert out.stat().st_mode & stat.S_IXUSR
        assert out.read_text().startswith("#!/bin/bash")


def test_submit_array_brings_the_scripts_it_calls(tmp_path):
    hpcpet_cli("jobscript", "submit-array", "-o", tmp_path / "go.sh")
    assert sorted(os.listdir(tmp_path)) == ["go.sh", "merge.sbatch", "run-part.sbatch"]


def test_default_name_and_stdout(tmp_path):
    proc = hpcpet_cli("jobscript", "run-mpi", "-o", "-")
    assert proc.stdout == template_text("run-mpi")
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "hpcpet", "jobscript", "merge"], cwd=tmp_path, check=True,
                   capture_output=True)
    assert (tmp_path / "merge.sbatch").read_text() == template_text("merge")


def test_existing_files_are_not_replaced_without_overwrite(tmp_path):
    out = tmp_path / "run-mpi.sbatch"
    out.write_text("mine")
    proc = hpcpet_cli("jobscript", "run-mpi", "-o", out, check=False)
    assert proc.returncode == 2 and "exists" in proc.stderr and "Traceback" not in proc.stderr
    assert out.read_text() == "mine"
    hpcpet_cli("jobscript", "run-mpi", "-o", out, "--overwrite")
    assert out.read_text() == template_text("run-mpi")
    proc = hpcpet_cli("jobscript", "nope", check=False)
    assert proc.returncode == 2
