"""`hpcpet plot`: line, heat map and small multiples, written as real PNG files."""
import numpy as np
import pytest

import hpcpet
from hpcpet.errors import HpcpetError
from hpcpet.plotting import plot_result

from conftest import hpcpet_cli

PNG = b"\x89PNG\r\n\x1a\n"


def _image(path):
    import matplotlib.image

    return matplotlib.image.imread(str(path))


def test_heatmap_over_a_2d_sweep(reference, tmp_path):
    out = tmp_path / "z.png"
    proc = hpcpet_cli("plot", reference, "some_group.z", "-o", out)
    assert "heatmap over x, neuron.tau" in proc.stdout
    assert out.read_bytes()[:8] == PNG
    img = _image(out)
    assert img.shape[0] > 300 and img.shape[1] > 400
    assert len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 20  # a colour map, not a blank canvas


def test_line_over_a_1d_sweep_and_axis_labels(reference, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    captured = {}
    orig = plt.Figure.savefig

    def grab(fig, *a, **k):  # look at the figure that is saved
        captured["axes"] = [(ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) for ax in fig.axes]
        captured["lines"] = [ln.get_xydata() for ax in fig.axes for ln in ax.get_lines()]
        return orig(fig, *a, **k)

    plt.Figure.savefig = grab
    try:
        with hpcpet.load(reference) as t:
            info = plot_result(t, "some_group.z", str(tmp_path / "l.png"), {"x": "2"})
    finally:
        plt.Figure.savefig = orig
    assert info["kind"] == "line" and info["dims"] == ["neuron.tau"]
    assert captured["axes"][0] == ("neuron.tau", "some_group.z", "some_group.z (x=2)")
    xy = captured["lines"][0]
    assert np.array_equal(xy[:, 0], [5, 10, 20, 40, 80, 160, 320])
    assert np.array_equal(xy[:, 1], 2 * xy[:, 0])


def test_small_multiples_beyond_two_dims(reference, tmp_path):
    out = tmp_path / "f.png"
    with hpcpet.load(reference) as t:
        info = plot_result(t, "arrays.fixed", str(out))
    assert info["kind"] == "facets"
    assert info["dims"] == ["x", "neuron.tau", "arrays.fixed_dim0"]
    assert info["facets"] == [0, 1, 2]
    assert out.read_bytes()[:8] == PNG


def test_facets_over_the_third_parameter(tmp_path):
    traj = hpcpet.Trajectory()
    for p in ("a", "b", "c"):
        traj.add_parameter(p, 0.0)
    traj.explore(hpcpet.cartesian_product({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0], "c": [10.0, 20.0, 30.0, 40.0]}))
    hpcpet.Environment(traj, str(tmp_path / "c.h5"), progress="quiet").run(
        lambda t: t.add_result("s", t.a + t.b + t.c))
    proc = hpcpet_cli("plot", tmp_path / "c.h5", "s", "-o", tmp_path / "c.png")
    assert "facets over a, b, c" in proc.stdout
    with hpcpet.load(str(tmp_path / "c.h5")) as t:
        info = plot_result(t, "s", str(tmp_path / "c2.png"))
    assert info["facets"] == [10.0, 20.0, 30.0, 40.0]


def test_plot_errors(reference, tmp_path):
    for name, msg in [("text.msg", "holds text"), ("arrays.ragged", "shape varies"), ("nope", "no result 'nope'")]:
        proc = hpcpet_cli("plot", reference, name, "-o", tmp_path / "x.png", check=False)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("hpcpet: error:") and msg in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.png").exists()
    with hpcpet.load(reference) as t:
        with pytest.raises(HpcpetError, match="cannot select 'y'"):
            plot_result(t, "some_group.z", str(tmp_path / "x.png"), {"y": "1"})
        with pytest.raises(HpcpetError, match="nothing left"):
            plot_result(t, "some_group.z", str(tmp_path / "x.png"), {"x": "1", "neuron.tau": "5"})
