"""What differs between two configs, in a few words: ``"clip: none → norm 1.0"``.

Used to label pinned runs (the pinned config against the live one) and the A/B pair (A against
B). Settings that belong together are shown together (clipping mode and threshold, ReLU and its
leak, the LSTM and its forget bias), and a setting that has no effect (the threshold while
clipping is off, a gated cell's activation) never counts as a difference. No Qt here: plain
functions of :class:`~gradsim.engine.config.SimConfig`.
"""

from __future__ import annotations

from collections.abc import Callable

from gradsim.engine.config import SimConfig

# Most differences spelled out in a label; the rest are counted ("+2 more").
MAX_SHOWN = 3

# Fields that decide which batches a run draws (see Simulation.reset: the data stream depends
# on the seed only, but what is drawn from it on these).
DATA_FIELDS = ("task", "seq_len", "batch_size", "dtype", "seed")


def number(value: float) -> str:
    """A float as a person writes it, always with a decimal point: ``1.0``, ``0.05``, ``1e-05``."""
    text = f"{value:g}"
    return text if any(c in text for c in ".en") else f"{text}.0"


def _clip(config: SimConfig) -> str:
    return "none" if config.clip_mode == "none" else f"{config.clip_mode} {number(config.clip_threshold)}"


def _cell(config: SimConfig) -> str:
    # The forget bias belongs to the LSTM (other cells ignore it): shown with it, never alone.
    if config.cell == "lstm":
        return f"lstm (forget bias {number(config.forget_bias)})"
    return config.cell


def _activation(config: SimConfig) -> str:
    if config.cell != "rnn":
        return "tanh"  # a gated cell's candidate, whatever config.activation says (as the engine)
    if config.activation == "leaky_relu":
        return f"leaky_relu {number(config.leaky_slope)}"
    return config.activation


def _field(name: str) -> Callable[[SimConfig], str]:
    def show(config: SimConfig) -> str:
        value = getattr(config, name)
        return number(value) if isinstance(value, float) else str(value)

    return show


# Label -> how a config shows that setting; in the order of the control panel.
ASPECTS: dict[str, Callable[[SimConfig], str]] = {
    "cell": _cell,
    "layers": _field("num_layers"),
    "hidden": _field("hidden_size"),
    "seq len": _field("seq_len"),
    "activation": _activation,
    "init": _field("init"),
    "weight scale": _field("weight_scale"),
    "normalization": _field("normalization"),
    "clip": _clip,
    "task": _field("task"),
    "optimizer": _field("optimizer"),
    "learning rate": _field("learning_rate"),
    "batch": _field("batch_size"),
    "seed": _field("seed"),
    "dtype": _field("dtype"),
}


def differences(before: SimConfig, after: SimConfig) -> list[str]:
    """``["clip: none → norm 1.0", ...]``: each setting that differs, ``before → after``."""
    changes = []
    for label, show in ASPECTS.items():
        old, new = show(before), show(after)
        if old != new:
            changes.append(f"{label}: {old} → {new}")
    return changes


def describe_difference(before: SimConfig, after: SimConfig, iteration: int | None = None) -> str:
    """A short label of what changed from ``before`` to ``after``.

    Parameters
    ----------
    before, after : the two configs (a pinned run's and the live one; or A's and B's)
    iteration : named when nothing differs (``"same settings, iteration 120"``), so that two
        pins of the same config at different times can be told apart

    Returns
    -------
    At most :data:`MAX_SHOWN` differences joined by ``", "``, then ``"(+n more)"``.
    """
    changes = differences(before, after)
    if not changes:
        return "same settings" if iteration is None else f"same settings, iteration {iteration}"
    shown = ", ".join(changes[:MAX_SHOWN])
    extra = len(changes) - MAX_SHOWN
    return f"{shown} (+{extra} more)" if extra > 0 else shown


def data_differences(a: SimConfig, b: SimConfig) -> list[str]:
    """The settings among :data:`DATA_FIELDS` that differ (then the two runs see other batches)."""
    return [name for name in DATA_FIELDS if getattr(a, name) != getattr(b, name)]


def rnn_vs_lstm(config: SimConfig) -> tuple[SimConfig, SimConfig]:
    """A vanilla RNN and an LSTM of ``config``'s size, task and data (the same seed: the same
    batches), for the A/B comparison that shows why gates help.

    A is ``config`` as a vanilla RNN (its activation; tanh if ``config`` was a gated cell, whose
    candidate is tanh), B the LSTM: ``config``'s forget bias if it was an LSTM, else 1.0 (the
    classic recommendation; PyTorch's default 0 starts the forget gates half closed).
    """
    rnn = (
        config.replace(cell="rnn") if config.cell == "rnn" else config.replace(cell="rnn", activation="tanh")
    )
    forget_bias = config.forget_bias if config.cell == "lstm" else 1.0
    return rnn, config.replace(cell="lstm", forget_bias=forget_bias)


def suggest_change(config: SimConfig) -> SimConfig:
    """A second config for an A/B comparison: ``config`` with one teaching change.

    Clipping is the fix most runs are compared with: switched on (by norm, threshold 1.0) when
    off, and off when on.
    """
    if config.clip_mode == "none":
        return config.replace(clip_mode="norm", clip_threshold=1.0)
    return config.replace(clip_mode="none")
