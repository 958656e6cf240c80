"""What each control shows and allows, without a widget.

The label and tooltip of every config field (:data:`FIELD_HELP`: what the control does to the
gradients) and of every choice (:data:`CHOICE_LABELS`), the range a float spin box offers
(:func:`float_bounds`, from ``gradsim.engine.config``), and the 1-2-5 ladder the log spin
boxes step along (:func:`step_125`). :mod:`.control_panel` builds the widgets from them.
"""

from __future__ import annotations

import math

from gradsim.engine.config import FLOAT_RANGES

# What each choice is called on screen, with a one-line tooltip.
CHOICE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "cell": {
        "rnn": ("vanilla RNN", "h = f(W_ih x + W_hh h + b): every step back multiplies by f′ and W_hh"),
        "lstm": (
            "LSTM",
            "a cell state kept by the forget gate: back through time its gradient is multiplied by "
            "the forget gate, not by f′ W_hh",
        ),
        "gru": ("GRU", "the update gate mixes the old state and a candidate: it passes back its share"),
    },
    "activation": {
        "sigmoid": ("sigmoid", "derivative at most 0.25: every step back at least quarters the gradient"),
        "tanh": ("tanh", "derivative at most 1, near 0 once saturated (|z| > 2)"),
        "relu": ("ReLU", "derivative 1 for active units, 0 for inactive ones"),
        "leaky_relu": ("leaky ReLU", "derivative 1, or the leaky slope for negative inputs"),
        "elu": ("ELU", "derivative 1 for positive inputs, exp(z) for negative ones"),
        "linear": ("linear", "derivative 1: only the weights shape the gradient"),
    },
    "init": {
        "gaussian": ("Gaussian", "N(0, scale² / fan-in): the recurrent matrix has spectral radius ≈ scale"),
        "xavier": ("Xavier (Glorot)", "uniform, variance 2 / (fan-in + fan-out), times the scale"),
        "he": ("He (Kaiming)", "N(0, 2 / fan-in), times the scale: makes up for ReLU halving the signal"),
        "orthogonal": ("orthogonal", "every singular value equals the scale: no direction shrinks or grows"),
        "identity": ("identity", "the identity matrix times the scale (IRNN)"),
    },
    "normalization": {
        "none": ("none", "no normalisation"),
        "batch": ("batch norm", "normalise each pre-activation over the batch at every time step"),
    },
    "clip_mode": {
        "none": ("none", "the update uses the raw gradient"),
        "norm": (
            "by global norm",
            "when the global norm ||g|| exceeds the threshold, multiply the whole gradient by "
            "threshold / ||g|| (PyTorch's clip_grad_norm_ uses threshold / (||g|| + 1e-6))",
        ),
        "value": ("by value", "cut every gradient entry to [-threshold, threshold]"),
    },
    "task": {
        "adding": ("adding problem", "sum the two marked numbers of the sequence (needs long memory)"),
        "memory": ("memory", "name the symbol shown at the first step (needs the longest memory)"),
        "random": ("random data", "nothing to learn: only the gradient flow to watch"),
    },
    "optimizer": {
        "sgd": ("SGD", "step = learning rate × gradient"),
        "momentum": (
            "SGD + momentum",
            "step = learning rate × v, with v = 0.9 v + gradient: a decayed sum of past gradients "
            "(not an average: about 10× the gradient once it is steady), as in PyTorch",
        ),
        "adam": ("Adam", "each step divided by the gradient's running size: about the learning rate"),
    },
    "dtype": {
        "float64": ("float64", "overflows past about 1e308"),
        "float32": ("float32", "overflows past about 3e38: an exploding run reaches inf sooner"),
    },
}

# The activation's tooltip while a gated cell is chosen (the control is disabled then).
GATED_ACTIVATION_TIP = (
    "Not used by LSTM and GRU cells: their gates are sigmoid and their candidate tanh, as in "
    "PyTorch's nn.LSTM and nn.GRU; the gradient passes back through those derivatives instead."
)

# The label and the tooltip of each field: what the control does to the gradients.
FIELD_HELP: dict[str, tuple[str, str]] = {
    "cell": (
        "Cell",
        "The recurrent cell. A vanilla RNN multiplies the gradient by f′ and the recurrent weights at "
        "every step back; an LSTM's cell state carries it back multiplied by the forget gate only "
        "(PyTorch's nn.LSTM and nn.GRU equations).",
    ),
    "forget_bias": (
        "Forget bias",
        "Added to the LSTM forget gates' bias at the start: 1 opens them (sigmoid(1) = 0.73), so the "
        "cell state passes more of the gradient back at every step; 0 is PyTorch's default.",
    ),
    "num_layers": (
        "Layers",
        "Stacked recurrent layers. The gradient reaching the first layer has passed through every "
        "layer above it, picking up one more factor per layer.",
    ),
    "hidden_size": (
        "Hidden size",
        "Units per layer. The per-step gradient factor is set by the weight scale, not the width; "
        "wider layers make it steadier but cost memory and time.",
    ),
    "seq_len": (
        "Sequence length",
        "Time steps the network is unrolled for. The gradient at step 1 is a product of one factor "
        "per step: more steps, more vanishing or exploding.",
    ),
    "activation": (
        "Activation",
        "The unit's non-linearity. Its derivative multiplies the gradient at every step: sigmoid's "
        "is at most 0.25, tanh's falls to 0 when saturated (vanishing); ReLU passes 1 or 0.",
    ),
    "leaky_slope": (
        "Leaky slope",
        "Slope of leaky ReLU for negative inputs: instead of 0, switched-off units pass this "
        "fraction of the gradient.",
    ),
    "init": (
        "Initialisation",
        "How the initial weights are drawn. With Gaussian or orthogonal weights the recurrent "
        "matrix multiplies the gradient by about the weight scale at every step.",
    ),
    "weight_scale": (
        "Weight scale",
        "Multiplies every initial weight. Below the critical scale (1 for tanh or linear with "
        "orthogonal weights) the gradient shrinks at every step back; above it, it grows.",
    ),
    "normalization": (
        "Normalisation",
        "Batch norm rescales each layer's pre-activation over the batch at every step, keeping "
        "sigmoid and tanh units in their steep middle, where the derivative (and so the gradient "
        "passed back) is large.",
    ),
    "clip_mode": (
        "Clipping",
        "Limits the parameter gradient before the update. It does not stop the gradient growing "
        "inside backpropagation, but it bounds the weight change, so training survives.",
    ),
    "clip_threshold": (
        "Clip threshold",
        "Largest allowed global gradient norm (by norm) or gradient entry (by value).",
    ),
    "task": (
        "Task",
        "What the network learns. The loss sits at the last step only, so every earlier step's "
        "gradient is what backpropagation carried back to it.",
    ),
    "optimizer": (
        "Optimiser",
        "How the gradient becomes a weight change. With SGD an exploding gradient makes an "
        "exploding step; Adam divides by the gradient's size, so its steps stay small.",
    ),
    "learning_rate": (
        "Learning rate",
        "Size of each update. A large rate with a large gradient throws the weights far, and the "
        "next gradients explode. The arrows step 1-2-5 through the decades.",
    ),
    "batch_size": (
        "Batch size",
        "Sequences per training step. The gradient is averaged over them (less noise); batch norm "
        "needs at least 2.",
    ),
    "seed": (
        "Seed",
        "Random seed of the weights and the data. The same seed and settings give the same "
        "numbers, bit for bit.",
    ),
    "dtype": (
        "Precision",
        "Floating-point type. float32 overflows past about 3e38, float64 past about 1e308: an "
        "exploding gradient turns into inf sooner in float32.",
    ),
}


def step_125(value: float, steps: int) -> float:
    """``value`` moved ``steps`` places along the 1-2-5 sequence (…, 0.01, 0.02, 0.05, 0.1, …).

    A value between two sequence entries first snaps to the neighbour in the step's direction.
    """
    if value <= 0 or steps == 0:
        return value
    mantissas = (1.0, 2.0, 5.0)
    exponent = math.floor(math.log10(value))
    # Index of every sequence entry: 3 per decade.
    entries = [(exponent + d, m) for d in (-1, 0, 1) for m in mantissas]
    values = [m * 10.0**e for e, m in entries]
    ladder_index = 3 * exponent  # index of 1 x 10^exponent
    position = None
    for offset, entry in enumerate(values):
        if math.isclose(entry, value, rel_tol=1e-9):
            position = ladder_index - 3 + offset
            break
    if position is None:
        below = max(i for i, entry in enumerate(values) if entry < value)
        position = ladder_index - 3 + (below if steps > 0 else below + 1)
    target = position + steps
    decade, index = divmod(target, 3)
    return float(f"{mantissas[index] * 10.0**decade:.12g}")


def float_bounds(name: str, minimum_positive: float) -> tuple[float, float]:
    """The range a spin box offers for float field ``name``: its config range, with an exclusive
    lower bound raised to ``minimum_positive`` (a spin box has no open interval)."""
    low, high, low_inclusive = FLOAT_RANGES[name]
    return (low if low_inclusive else max(low, minimum_positive)), high
