"""Training on real ABACUS Si data: overfitting, a short fit, exact resume, checkpoints, CLI."""

import json

import pytest
import torch
import yaml
from click.testing import CliRunner

from slem_dft.cli import main as cli_main
from slem_dft.config import FitConfig, defaults_yaml, load_config
from slem_dft.convert import convert_runs
from slem_dft.errors import ConfigError
from slem_dft.nn.graph import collate
from slem_dft.spectrum import eigenvalue_errors
from slem_dft.store import Store
from slem_dft.train import _prepare, build_model, fit, operator_loss, set_statistics

torch.set_num_threads(1)  # tiny tensors: thread start-up dominates on a shared 2-core machine

TINY = {"channels": 4, "n_layers": 1, "latent_dim": 16, "radial_channels": 16, "env_multiplicity": 4}


@pytest.fixture(scope="module")
def si8_frames(tmp_path_factory):
    from conftest import shared_data_dir

    root = shared_data_dir()
    if root is None or not (root / "generated" / "abacus" / "si8_dzp").is_dir():
        pytest.skip("si8_dzp frames not found: set SLEM_DFT_TEST_DATA or put the data at ../shared/data")
    path = tmp_path_factory.mktemp("frames") / "si8.h5"
    runs = [root / "generated" / "abacus" / "si8_dzp" / f"frame_{k:03d}" for k in range(4)]
    convert_runs(runs, path, ("H", "S"), False, 1, False, False, False, {})
    return path


def _config(stores, operators=("H",), epochs=2, **train):
    return FitConfig.from_dict(
        {
            "data": {
                "stores": [str(s) for s in stores],
                "cutoff": 3.0,
                "val_fraction": 0.25,
                "operators": list(operators),
            },
            "model": TINY,
            "train": {"epochs": epochs, "lr": 0.01, "progress": False, **train},
        }
    )


def test_overfits_one_structure(si8_store, tmp_path):
    config = FitConfig.from_dict(
        {
            "data": {"stores": [str(si8_store)], "cutoff": 3.0, "val_fraction": 0.0},
            "model": TINY,
            "train": {
                "epochs": 200,
                "lr": 0.02,
                "ema_decay": 0.0,
                "lr_patience": 5,
                "lr_factor": 0.7,
                "progress": False,
            },
        }
    )
    history = fit(config, tmp_path, echo=lambda *_: None)
    ratio = history[0]["val_loss"] / history[-1]["val_loss"]
    print(f"overfit loss ratio {ratio:.0f}, H MAE {history[-1]['h_mae_meV']:.2f} meV")
    assert ratio > 100


def test_short_fit_lowers_validation_error_and_checkpoint_predicts(si8_frames, tmp_path):
    history = fit(_config([si8_frames], epochs=4), tmp_path, echo=lambda *_: None)
    assert history[-1]["h_mae_meV"] < history[0]["h_mae_meV"]
    state = torch.load(tmp_path / "best.pt", weights_only=True)
    assert {"config", "basis", "radii", "operators", "weights", "norms"} <= set(state)
    assert (tmp_path / "metrics.csv").read_text().splitlines()[0].startswith("epoch,train_loss,val_loss,lr,h_mae_meV")
    result = CliRunner().invoke(
        cli_main, ["evaluate", str(tmp_path / "best.pt"), str(si8_frames), "--json", "--window", "1.5"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["h_mae_meV"] > 0 and {"onsite", "hopping", "Si-Si", "s-s", "d-d"} <= set(report["tables"]["H"])
    assert report["eig_max_meV"] >= report["eig_mae_meV"] > 0 and report["eig_window_eV"] == 1.5
    assert len(report["eig_kpoints"]) == 5 and report["eig_states"] > 0
    table = CliRunner().invoke(cli_main, ["evaluate", str(tmp_path / "best.pt"), str(si8_frames)])
    assert table.exit_code == 0 and "band energies within E_F +- 2 eV" in table.output


def test_eigenvalue_error_is_zero_for_the_stored_h_and_sees_a_perturbation(si8_store):
    record = Store(si8_store)[0].replace(fermi_energy=None)  # 32 electrons: E_F midway between bands 16 and 17
    h = record.operators["H"]
    exact = eigenvalue_errors(record, h, window=1.0)
    assert exact["fermi_source"] == "midgap" and exact["errors"].size > 0 and exact["errors"].max() < 1e-9
    record = record.replace(fermi_energy=exact["fermi"] + 0.5)
    stated = eigenvalue_errors(record, h, window=1.0)
    assert stated["fermi_source"] == "record" and stated["fermi"] == exact["fermi"] + 0.5
    shifted = h.map_values(1.01)  # H scaled by 1 %: bands near E_F move by ~ 1 % of their energy
    report = eigenvalue_errors(record, shifted, window=1.0)
    assert report["errors"].min() > 1e-3
    aligned = eigenvalue_errors(record, shifted, window=1.0, align=True)
    assert aligned["shift"] != 0.0 and aligned["errors"].mean() < report["errors"].mean()


def test_onsite_shift_makes_the_loss_blind_to_mu_s(si8_store):
    config = FitConfig.from_dict(
        {
            "data": {"stores": [str(si8_store)], "cutoff": 3.0, "val_fraction": 0.0},
            "model": TINY,
            "train": {"onsite_shift": True},
        }
    )
    basis, radii, operators, train, _, avg, _ = _prepare(config)
    model = build_model(config, basis, radii, operators, avg).double()
    norms = set_statistics(model, train)
    batch = collate([train[0], train[0]], torch.float64)  # two structures, shifted differently
    out = model(batch)
    moved = dict(batch)
    mu = torch.tensor([0.7, -1.3], dtype=torch.float64)
    moved["node_H"] = batch["node_H"] + mu[batch["node_graph"]][:, None, None, None] * batch["node_S"]
    moved["half_H"] = batch["half_H"] + mu[batch["edge_graph"][batch["half"]]][:, None, None, None] * batch["half_S"]
    on, on_moved = operator_loss(model, out, batch, norms, True), operator_loss(model, out, moved, norms, True)
    assert torch.allclose(on, on_moved, rtol=1e-10, atol=0)
    off, off_moved = operator_loss(model, out, batch, norms), operator_loss(model, out, moved, norms)
    assert abs(float((off_moved - off).detach())) > 1e-3 * float(off.detach())


def test_resume_after_a_kill_continues_identically(si8_store, tmp_path, monkeypatch):
    import slem_dft.train as train

    config = FitConfig.from_dict(
        {
            "data": {"stores": [str(si8_store)], "cutoff": 3.0, "val_fraction": 0.0, "operators": ["H", "S", "DM"]},
            "model": TINY,
            "train": {"epochs": 3, "lr": 0.01, "progress": False},
        }
    )
    straight = fit(config, tmp_path / "a", echo=lambda *_: None)
    real_epoch, calls = train._train_epoch, []

    def killed_in_epoch_3(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_epoch(*args)

    monkeypatch.setattr(train, "_train_epoch", killed_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        fit(config, tmp_path / "b", echo=lambda *_: None)
    monkeypatch.setattr(train, "_train_epoch", real_epoch)
    resumed = fit(config, tmp_path / "b", resume=True, echo=lambda *_: None)
    assert [r["val_loss"] for r in resumed] == [r["val_loss"] for r in straight]
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["weights"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["weights"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_config_validation_and_defaults(tmp_path):
    assert "ema_decay: 0.99" in defaults_yaml() and "cutoff: null" in defaults_yaml()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"data": {"stores": ["x.h5"]}, "model": {"chanels": 4}}))
    with pytest.raises(ConfigError, match="unknown key model.chanels"):
        load_config(path)
    path.write_text("data: {stores: [x.h5]}\ntrain: {lr: .nan}\n")
    with pytest.raises(ConfigError, match="train.lr is NaN"):
        load_config(path)
    path.write_text("data: {stores: [x.h5]}\n")
    assert load_config(path).data.stores == [str(tmp_path / "x.h5")]
    result = CliRunner().invoke(cli_main, ["fit", "--show-defaults"])
    assert result.exit_code == 0 and "n_layers: 3" in result.output and "onsite_shift: false" in result.output
