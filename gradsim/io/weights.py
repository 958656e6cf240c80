"""Network weights on disk: a state dict as ``.safetensors`` or ``.npz``, never a pickle.

The names and shapes are PyTorch's (:func:`gradsim.engine.cells.parameter_shapes`), so the state
dict of an ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` with ``batch_first`` of no importance moves
between PyTorch and gradsim unchanged::

    # in PyTorch
    from safetensors.torch import save_file
    save_file(model.state_dict(), "lstm.safetensors")      # model = nn.LSTM(I, H, L)

    # in gradsim
    config = SimConfig(cell="lstm", hidden_size=H, num_layers=L, task=...)
    simulation = Simulation(config, weights=load_weights("lstm.safetensors", config))

A file must hold every recurrent parameter (``weight_ih_l{k}``, ``weight_hh_l{k}``,
``bias_ih_l{k}``, ``bias_hh_l{k}``); the readout (``readout.weight``, ``readout.bias``) and batch
norm's ``bn_gain_l{k}``, ``bn_shift_l{k}`` may be left out, and then keep the values the config
initialises them to. Any other name, a wrong shape or a non-float array is refused with a
one-line :class:`WeightsError`.

PyTorch's own ``.pt`` / ``.pth`` files are pickles: loading a pickle can run any code its author
put in it, so gradsim refuses them and says how to save the weights instead. Reading goes through
the hardened reader (:mod:`gradsim.engine.safe_read`): a size limit, no hang on a named pipe.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import safetensors.numpy

from gradsim.engine.cells import check_weights
from gradsim.engine.config import SimConfig
from gradsim.engine.safe_read import WEIGHTS_LIMIT, FileReadError, load_npz, read_bytes

from .atomic import atomic_savez, atomic_write_bytes
from .reading import describe_reason

__all__ = [
    "PICKLE_SUFFIXES",
    "WEIGHTS_SUFFIXES",
    "WeightsError",
    "load_weights",
    "read_weights",
    "save_weights",
    "weights_suffix",
]

WEIGHTS_SUFFIXES = (".safetensors", ".npz")
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")
PICKLE_REFUSAL = (
    "is a pickle (PyTorch's torch.save format), and loading a pickle can run any code it holds, so "
    "gradsim never opens one; save the state dict with safetensors instead: "
    "safetensors.torch.save_file(model.state_dict(), 'model.safetensors')"
)


class WeightsError(ValueError):
    """A weights file cannot be used; the message (one line) names the file and the problem."""


def weights_suffix(path: Path) -> str:
    """``path``'s suffix if gradsim reads and writes weights of that type; a pickle or another
    type raises :class:`WeightsError` (one line)."""
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise WeightsError(f"{path}: {PICKLE_REFUSAL}")
    if suffix not in WEIGHTS_SUFFIXES:
        raise WeightsError(
            f"{path}: unknown weights file type {path.suffix or '(none)'!r}; use .safetensors or .npz"
        )
    return suffix


def read_weights(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of a ``.safetensors`` or ``.npz`` file, by name (not checked against a config).

    Raises
    ------
    WeightsError
        A pickle, an unknown file type, or a file that cannot be read safely or parsed.
    """
    file = Path(os.fspath(path))
    suffix = weights_suffix(file)
    try:
        if suffix == ".npz":
            return load_npz(file, WEIGHTS_LIMIT, "a weights file")
        data = read_bytes(file, WEIGHTS_LIMIT, "a weights file")
    except FileReadError as error:
        raise WeightsError(f"{file}: {error.reason}") from None
    try:
        arrays = safetensors.numpy.load(data)
    except Exception as error:  # the Rust parser's errors have no common Python base
        raise WeightsError(f"{file}: not a valid safetensors file ({describe_reason(error)})") from None
    return dict(arrays)


def load_weights(path: str | os.PathLike[str], config: SimConfig) -> dict[str, np.ndarray]:
    """The weights of ``path``, checked against ``config``'s network, in the config's dtype.

    Returns the arrays the file holds (a subset of ``Simulation.params``: the parameters it
    leaves out keep their initial values when given to :class:`Simulation`).

    Raises
    ------
    WeightsError
        As :func:`read_weights`, or a name, shape or dtype that does not fit ``config``.
    """
    file = Path(os.fspath(path))
    weights = read_weights(file)
    try:
        check_weights(config, weights)
    except ValueError as error:
        raise WeightsError(f"{file}: {error}") from None
    dtype = np.dtype(config.dtype)
    return {name: np.ascontiguousarray(value, dtype=dtype) for name, value in weights.items()}


def save_weights(path: str | os.PathLike[str], params: dict[str, np.ndarray]) -> None:
    """Write ``params`` (e.g. ``Simulation.params``) as ``.safetensors`` or ``.npz``, atomically.

    A ``.safetensors`` file loads in PyTorch with ``safetensors.torch.load_file`` and, without
    the readout and batch-norm entries, into ``nn.LSTM.load_state_dict`` (``strict=False``
    keeps them out).

    Raises
    ------
    WeightsError
        A pickle or unknown extension (nothing is written).
    gradsim.io.atomic.WriteError
        The file cannot be written; nothing is left behind.
    """
    file = Path(os.fspath(path))
    suffix = weights_suffix(file)
    arrays = {name: np.ascontiguousarray(value) for name, value in params.items()}
    if suffix == ".safetensors":
        atomic_write_bytes(file, safetensors.numpy.save(arrays))
        return
    atomic_savez(file, arrays)
