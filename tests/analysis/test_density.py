"""analysis.broadened_density / analysis.density: the Gaussian-broadened SLQ density integrates
to 1, peaks at the nodes in proportion to their weights, and skips NaN entries (breakdown)."""
import numpy as np

import analysis


def test_density_integrates_to_one_and_weights_peaks():
    nodes = np.array([[1.0, 2.0, np.nan], [1.0, 2.0, 4.0]])
    weights = np.array([[0.25, 0.75, np.nan], [0.2, 0.3, 0.5]])
    grid = np.linspace(-1.0, 6.0, 20001)
    dens = analysis.broadened_density(nodes, weights, grid, width=0.05)
    assert abs(np.trapz(dens, grid) - 1.0) < 1e-6
    peak = lambda x: dens[np.argmin(np.abs(grid - x))] * 0.05 * np.sqrt(2 * np.pi)
    assert abs(peak(2.0) - (0.75 + 0.3) / 2) < 1e-4  # grid points within 2e-4 of the node
    assert abs(peak(4.0) - 0.5 / 2) < 1e-4
    default = analysis.broadened_density(nodes, weights, grid)  # width 1% of the span
    assert abs(np.trapz(default, grid) - 1.0) < 1e-6


def test_density_nothing_measured():
    dens = analysis.broadened_density(np.full((2, 3), np.nan), np.full((2, 3), np.nan),
                                      np.linspace(0, 1, 5))
    assert np.isnan(dens).all()


DENSITY_SWEEP = """name: density
seed: 1
data:      {source: teacher-student, dim: 6, n_out: 2, teacher_hidden: 8, n_train: 64, standardize: false}
model:     {arch: mlp, hidden: [8], activation: tanh}
loss: mse
train:     {optimizer: gd, lr: 0.1, batch_size: full, max_steps: 20, record_every: 5}
sharpness: {every: 10, k: 1, tol: 1.0e-5, max_iter: 200, trace_probes: 300, density_probes: 20, density_steps: 25}
"""


def test_density_from_a_real_file(eosweep_bin, tmp_path):
    """Through the binary (float32): each probe's weights sum to 1, its top node is the top
    eigenvalue Lanczos found (25 steps on 74 parameters), the weighted mean of the nodes estimates
    tr(H)/n_params as Hutchinson does, and the broadened density integrates to 1."""
    import subprocess

    import h5py

    (tmp_path / "d.yaml").write_text(DENSITY_SWEEP)
    p = subprocess.run([eosweep_bin, "d.yaml", "-o", "d.h5", "--quiet"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    path = str(tmp_path / "d.h5")
    with h5py.File(path) as f:
        nodes, weights = f["sharp/density_nodes"][()], f["sharp/density_weights"][()]
        eig, trace = f["sharp/eig"][()], f["sharp/trace"][()]
    assert nodes.shape == (1, 3, 20, 25) and weights.shape == nodes.shape
    n_params = 6 * 8 + 8 + 8 * 2 + 2
    for slot in range(3):
        ok = np.isfinite(nodes[0, slot])
        assert ok.any(axis=1).all()
        np.testing.assert_allclose(np.nansum(weights[0, slot], axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(np.nanmax(nodes[0, slot], axis=1), eig[0, slot, 0], rtol=1e-3)
        # sum_i w_i node_i = q'Hq for the probe's normalised Rademacher start q: with
        # Hutchinson's 300 probes, two estimates of tr(H)/n that agree to their sampling error
        means = np.nansum(nodes[0, slot] * weights[0, slot], axis=1)
        se = means.std(ddof=1) / np.sqrt(len(means))
        assert abs(means.mean() - trace[0, slot] / n_params) < 4 * se * np.sqrt(1 + 20 / 300)
        assert se < 0.3 * abs(trace[0, slot] / n_params), "test too weak"
        grid, dens = analysis.density(path, 0, slot)
        assert abs(np.trapz(dens, grid) - 1.0) < 1e-3


def test_density_report_figure(eosweep_bin, tmp_path):
    """The report draws the density over training (one panel per run that measured it) and no
    such section for a file without it."""
    import subprocess

    from analysis.report import make_report

    for name, text in (("d", DENSITY_SWEEP), ("n", DENSITY_SWEEP.replace(
            ", density_probes: 20, density_steps: 25", ""))):
        (tmp_path / f"{name}.yaml").write_text(text)
        p = subprocess.run([eosweep_bin, f"{name}.yaml", "-o", f"{name}.h5", "--quiet"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
    md = open(make_report(str(tmp_path / "d.h5"), str(tmp_path / "rep"))).read()
    assert "## Spectral density" in md and "![density_nodes.png](density_nodes.png)" in md
    assert (tmp_path / "rep" / "density_nodes.png").stat().st_size > 10000
    md = open(make_report(str(tmp_path / "n.h5"), str(tmp_path / "rep2"))).read()
    assert "Spectral density" not in md
