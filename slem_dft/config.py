"""Configuration of ``slem-dft fit``: frozen dataclasses with documented defaults, YAML loading
and validation. Every field carries ``metadata["doc"]``; ``--show-defaults`` prints them.

A YAML file has up to three sections, ``data``, ``model`` and ``train``; a key that is not a
field, a NaN, or a value of the wrong type is a :class:`~slem_dft.errors.ConfigError` naming
the key. This module imports no torch.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "FitConfig", "load_config", "defaults_yaml"]


def _f(default, doc: str, unit: str | None = None):
    kw = {"default_factory": lambda: list(default)} if isinstance(default, list) else {"default": default}
    return field(metadata={"doc": doc, "unit": unit}, **kw)


@dataclass(frozen=True)
class DataConfig:
    stores: list = _f([], "HDF5 stores to train on (slem-dft convert output); paths relative to the YAML file")
    val_stores: list = _f([], "separate validation stores; empty: split val_fraction off the training stores")
    val_fraction: float = _f(0.125, "fraction of structures held out for validation when val_stores is empty")
    operators: list = _f(["H"], "operators to learn, any of H, S, DM (one model predicts all)")
    cutoff: float | None = _f(None, "per-species radius r_Z (pair cutoff (r_Zi + r_Zj)/2 = environment and "
                                    "bond cutoff); null: the longest stored hopping distance of the training data",
                              "Angstrom")

    def __post_init__(self):
        if not self.stores:
            raise ConfigError("data.stores: give at least one training store")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}")
        bad = [op for op in self.operators if op not in ("H", "S", "DM")]
        if bad or not self.operators:
            raise ConfigError(f"data.operators: choose from H, S, DM, got {self.operators}")
        if self.cutoff is not None and self.cutoff <= 0:
            raise ConfigError(f"data.cutoff must be positive, got {self.cutoff}")


@dataclass(frozen=True)
class ModelConfig:
    channels: int = _f(16, "copies of every hidden irrep (L, p)")
    lmax: int | None = _f(None, "largest hidden degree; null: 2 x the largest basis l (what the blocks need)")
    n_layers: int = _f(3, "interaction layers (the receptive field does not grow with them)")
    latent_dim: int = _f(64, "width of the invariant pair state x_ij")
    radial_channels: int = _f(32, "hidden width of the MLPs that give the SO(2) edge weights")
    n_radial: int = _f(8, "Bessel radial functions")
    env_multiplicity: int = _f(8, "copies of each spherical harmonic in the initial features")
    avg_num_neighbors: float | None = _f(None, "normaliser of node sums; null: measured on the training data")
    envelope_p: int = _f(6, "exponent of the polynomial cutoff envelope")
    parity: bool = _f(True, "parity selection rule in the SO(2) layers (O(3)- rather than SO(3)-equivariant)")
    res_ratio: float = _f(0.5, "residual mixing c: new = (c f_update + f_old) / sqrt(1 + c^2)")

    def __post_init__(self):
        for name in ("channels", "n_layers", "latent_dim", "radial_channels", "n_radial", "env_multiplicity",
                     "envelope_p"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.lmax is not None and self.lmax < 0:
            raise ConfigError(f"model.lmax must be >= 0, got {self.lmax}")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = _f(100, "passes over the training set")
    batch_size: int = _f(1, "structures per optimiser step")
    lr: float = _f(5e-3, "AdamW learning rate")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    lr_schedule: str = _f("plateau", "plateau (ReduceLROnPlateau on the validation loss) or cosine (from lr to "
                                      "min_lr over the epochs)")
    lr_factor: float = _f(0.8, "ReduceLROnPlateau factor (on the validation loss)")
    lr_patience: int = _f(10, "ReduceLROnPlateau patience", "epochs")
    min_lr: float = _f(1e-6, "smallest learning rate")
    ema_decay: float = _f(0.99, "decay of the exponential moving average of the weights used for validation "
                                "and checkpoints (0: no EMA)")
    clip_grad: float | None = _f(10.0, "gradient-norm clipping; null: none")
    dtype: str = _f("float32", "float32 or float64")
    device: str = _f("auto", "auto (CUDA when available), cpu or cuda")
    seed: int = _f(0, "seed of weights, split and shuffling")
    threads: int | None = _f(None, "CPU threads for torch; null: torch's default")
    progress: bool = _f(True, "show a progress bar with the running loss")
    onsite_shift: bool = _f(False, "compare H up to a constant mu S per structure (the arbitrary potential zero of "
                                   "DFT, slem-model.md 4.2): mu* = <H_pred - H_ref, S_ref> / <S_ref, S_ref> is added "
                                   "to the target before the loss and the H metrics; needs S in the stores; "
                                   "evaluate then aligns eigenvalues by their mean error")
    max_minutes: float | None = _f(None, "stop after the first epoch that ends past this wall time; null: run all "
                                         "epochs", "minutes")

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("train.epochs and train.batch_size must be >= 1")
        if self.lr <= 0 or not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError("train.lr must be > 0 and train.ema_decay in [0, 1)")
        if self.lr_schedule not in ("plateau", "cosine"):
            raise ConfigError(f"train.lr_schedule must be plateau or cosine, got {self.lr_schedule!r}")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"train.dtype must be float32 or float64, got {self.dtype!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"train.device must be auto, cpu or cuda, got {self.device!r}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError(f"train.max_minutes must be positive, got {self.max_minutes}")


@dataclass(frozen=True)
class FitConfig:
    data: DataConfig
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict, base_dir: str | os.PathLike = ".") -> "FitConfig":
        """Build and validate a config from nested plain data (YAML or a checkpoint)."""
        if not isinstance(raw, dict):
            raise ConfigError("the configuration must be a mapping with sections data, model, train")
        _check_keys(raw, {"data", "model", "train"}, "")
        sections = {}
        for name, kind in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
            values = raw.get(name) or {}
            if not isinstance(values, dict):
                raise ConfigError(f"{name}: expected a mapping, got {type(values).__name__}")
            _check_keys(values, {f.name for f in dataclasses.fields(kind)}, f"{name}.")
            for key, value in values.items():
                _check_value(f"{name}.{key}", value, next(f for f in dataclasses.fields(kind) if f.name == key))
            if name == "data":
                values = {**values, **{k: [_resolve(base_dir, p) for p in values.get(k, [])]
                                       for k in ("stores", "val_stores")}}
            sections[name] = kind(**values)
        return cls(**sections)


def _resolve(base_dir, path) -> str:
    return os.fspath(path) if os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))


def _check_keys(values: dict, known: set, prefix: str) -> None:
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key {prefix}{unknown[0]} (known: {', '.join(sorted(known))})")


def _check_value(key: str, value: Any, f: dataclasses.Field) -> None:
    if isinstance(value, float) and math.isnan(value):
        raise ConfigError(f"{key} is NaN")
    default = f.default_factory() if f.default is dataclasses.MISSING else f.default
    if value is None:
        if "None" not in str(f.type):
            raise ConfigError(f"{key} must not be null")
        return
    expected = type(default) if default is not None else (float if "float" in str(f.type) else int)
    ok = isinstance(value, expected) or (expected is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be {expected.__name__}, got {value!r}")


def load_config(path: str | os.PathLike) -> FitConfig:
    """Read and validate a YAML config; relative store paths are relative to the file."""
    try:
        with open(path) as fh:
            raw = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return FitConfig.from_dict(raw, os.path.dirname(os.path.abspath(path)))


def defaults_yaml() -> str:
    """Every option with its default and documentation, as commented YAML."""
    lines = []
    for name, kind in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
        lines.append(f"{name}:")
        for f in dataclasses.fields(kind):
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            unit = f" [{f.metadata['unit']}]" if f.metadata.get("unit") else ""
            lines.append(f"  # {f.metadata['doc']}{unit}")
            lines.append(f"  {f.name}: {yaml.safe_dump(default, default_flow_style=True).strip().removesuffix('...').strip()}")
    return "\n".join(lines) + "\n"
