"""Print the measured-vs-predicted tables of docs/theory.md.

Run from the repository root:

    python3 docs/theory_table.py

    python3 docs/theory_table.py layers     # only the per-layer tables (sections 8 and 9)

Every measured number comes from real runs at initialisation: ``Simulation(config)``, one batch,
``forward_backward``, no training. In the one-layer tables the per-step factor is fitted over the
top layer's steps (``theory.measured_step_factor``: the first fifth of the steps left out); in
the per-layer tables it is each layer's span, ``10 ** (log10(||dL/dh_1|| / ||dL/dh_T||) / (T - 1))``
(``theory.span_decades``), the definition the regime uses. Factors are averaged as geometric
means over seeds 0, 1 and 2. Takes a minute or two on two cores.
"""

from __future__ import annotations

import sys

import numpy as np

from gradsim.engine import sweep, theory
from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import Simulation

SEEDS = (0, 1, 2)
WIDE = SimConfig(num_layers=1, hidden_size=256, seq_len=40, batch_size=16, task="random", dtype="float64")


def measure(config: SimConfig) -> tuple[float, float, float, float]:
    """Geometric-mean factor over seeds, its smallest and largest seed, mean end-to-end decades."""
    factors, decades = [], []
    for seed in SEEDS:
        simulation = Simulation(config.replace(seed=seed))
        x, y = simulation.sample_batch()
        norms = simulation.forward_backward(x, y).grad_norms
        factors.append(theory.measured_step_factor(norms))
        decades.append(float(np.log10(norms[0, 0] / norms[-1, -1])))
    return float(np.exp(np.mean(np.log(factors)))), min(factors), max(factors), float(np.mean(decades))


def describe(config: SimConfig, base: SimConfig) -> str:
    """The activation and whatever else differs from ``base``."""
    values, reference = config.to_dict(), base.to_dict()
    changed = [f"{config.activation}"]
    skip = ("seed", "activation")
    changed += [f"{k}={v}" for k, v in values.items() if v != reference[k] and k not in skip]
    return ", ".join(changed)


def factor_table(title: str, configs: list[SimConfig], base: SimConfig) -> None:
    print(f"### {title}\n")
    print("| setting | predicted | measured | seeds min-max | error |")
    print("|---|---:|---:|---:|---:|")
    for config in configs:
        predicted = theory.predicted_step_factor(config)
        measured, low, high, _ = measure(config)
        error = f"{measured / predicted - 1:+.1%}" if predicted else "n/a"
        shown = f"{predicted:.3f}" if predicted else "none"
        print(f"| {describe(config, base)} | {shown} | {measured:.3f} | {low:.3f}-{high:.3f} | {error} |")
    print()


def decades_table(title: str, configs: list[SimConfig], base: SimConfig) -> None:
    print(f"### {title}\n")
    print("| setting | predicted factor (top layer) | measured | predicted decades | measured decades |")
    print("|---|---:|---:|---:|---:|")
    for config in configs:
        measured, _, _, decades = measure(config)
        predicted = theory.predicted_step_factor(config)
        predicted_decades = theory.predicted_decades(config)
        print(
            f"| {describe(config, base)} | {predicted:.3f} | {measured:.3f} | "
            f"{predicted_decades:+.1f} | {decades:+.1f} |"
        )
    print()


def critical_table() -> None:
    print("### Critical weight scale (per-step factor 1; random task, 1 layer, hidden 256)\n")
    inits = ("gaussian", "xavier", "he", "orthogonal")
    print("| activation | " + " | ".join(inits) + " |")
    print("|---|" + "---:|" * len(inits))
    for activation in ("linear", "relu", "leaky_relu", "elu", "tanh", "sigmoid"):
        cells = []
        for init in inits:
            scale = theory.critical_weight_scale(WIDE.replace(activation=activation, init=init))
            cells.append("none" if scale is None else f"{scale:.3f}")
        print(f"| {activation} | " + " | ".join(cells) + " |")
    print()


def batch_norm_table() -> None:
    print("### Batch norm (no prediction): measured factor against weight scale and batch size\n")
    scales = (0.5, 1.0, 2.5)
    print("| setting | " + " | ".join(f"scale {s:g}" for s in scales) + " |")
    print("|---|" + "---:|" * len(scales))
    rows = [
        ("tanh", "random", 1, 16),
        ("tanh", "adding", 1, 16),
        ("sigmoid", "random", 1, 16),
        ("sigmoid", "adding", 2, 16),
        ("relu", "random", 1, 16),
        ("relu", "adding", 1, 4),
        ("linear", "random", 1, 16),
        ("linear", "random", 1, 256),
    ]
    for activation, task, layers, batch in rows:
        config = WIDE.replace(
            activation=activation, task=task, num_layers=layers, batch_size=batch, normalization="batch"
        )
        cells = [f"{measure(config.replace(weight_scale=s))[0]:.3f}" for s in scales]
        print(f"| {describe(config, WIDE)} | " + " | ".join(cells) + " |")
    print()


STACK = WIDE.replace(seq_len=30)
STACKS = (
    ("tanh", "gaussian", 1.4),
    ("tanh", "orthogonal", 1.0),
    ("tanh", "orthogonal", 1.5),
    ("linear", "gaussian", 0.95),
    ("relu", "gaussian", 1.3),
)


def layer_table() -> None:
    print(f"### Per layer: 1-4-layer stacks (hidden {STACK.hidden_size}, T = {STACK.seq_len}, random task)\n")
    print("| stack | span | own factor sqrt(chi_l) | predicted | measured | error |")
    print("|---|---|---:|---:|---:|---:|")
    for activation, init, scale in STACKS:
        for layers in (1, 2, 3, 4):
            config = STACK.replace(activation=activation, init=init, weight_scale=scale, num_layers=layers)
            prediction = theory.predict_layers(config)
            assert isinstance(prediction, theory.LayerPrediction)
            time, depth = theory.measured_spans(config, SEEDS)
            name = f"{activation}, {init} {scale:g}, {layers} layer{'s' if layers > 1 else ''}"
            for layer in range(layers):
                predicted = float(prediction.step_factors[layer])
                print(
                    f"| {name} | layer {layer + 1} | {prediction.own_step_factor[layer]:.3f} | "
                    f"{predicted:.3f} | {time[layer]:.3f} | {time[layer] / predicted - 1:+.1%} |"
                )
            if layers > 1:
                own = float(np.exp(np.mean(np.log(prediction.own_depth_factor[1:]))))
                print(
                    f"| {name} | depth | {own:.3f} | {prediction.depth_factor:.3f} | {depth:.3f} | "
                    f"{depth / prediction.depth_factor - 1:+.1%} |"
                )
    print()


def edge_table() -> None:
    base = WIDE.replace(seq_len=50, batch_size=8, hidden_size=128)
    scales = np.round(np.arange(0.5, 3.01, 0.05), 3)
    print(
        f"### Critical line against the measured edge (tanh, hidden {base.hidden_size}, T = {base.seq_len}, "
        f"random task; weight scale 0.5 to 3 in steps of 0.05, seeds {', '.join(map(str, SEEDS))})\n"
    )
    print(
        "| stack | critical line (span) | measured edge | top layer's factor 1 (old line) | corner ratio 1 |"
    )
    print("|---|---:|---:|---:|---:|")
    for init in ("gaussian", "orthogonal"):
        for layers in (1, 2, 3):
            config = base.replace(init=init, num_layers=layers)
            spec = sweep.SweepSpec(
                config, sweep.SweepAxis("weight_scale", tuple(float(s) for s in scales)),
                sweep.SweepAxis("num_layers", (layers,)), 0, SEEDS,
            )  # fmt: skip
            values = np.empty((1, len(scales), len(SEEDS)))
            for column in range(len(scales)):
                for k, seed in enumerate(SEEDS):
                    simulation = Simulation(spec.config_at(0, column).replace(seed=seed))
                    x, y = simulation.sample_batch()
                    norms = simulation.forward_backward(x, y).grad_norms
                    values[0, column, k] = theory.span_decades(np.log10(norms)).extreme()
            result = sweep.SweepResult(
                spec, values.mean(axis=2), np.zeros((1, len(scales)), dtype=np.int8), values,
                np.ones((1, len(scales)), dtype=bool),
            )  # fmt: skip
            edge = float(sweep.measured_edge(result)[0][0])
            line = theory.critical_weight_scale(config, "span")
            step = theory.critical_weight_scale(config, "step")
            corner = theory.critical_weight_scale(config, "end_to_end")
            print(
                f"| tanh, {init}, {layers} layer{'s' if layers > 1 else ''} | {line:.3f} | {edge:.3f} | "
                f"{step:.3f} | {corner:.3f} |"
            )
    print()


def main() -> None:
    if sys.argv[1:] == ["layers"]:
        layer_table()
        edge_table()
        return
    print(f"<!-- produced by: python3 docs/theory_table.py (seeds {', '.join(map(str, SEEDS))}) -->\n")
    print(f"Base setting: {', '.join(f'{k}={v}' for k, v in WIDE.to_dict().items() if k != 'seed')}.\n")
    required = []
    for activation, scales in (
        ("linear", (0.6, 0.85, 1.0, 1.15, 1.4)),
        ("relu", (0.8, 1.1, 1.414, 1.7, 2.2)),
        ("tanh", (0.8, 1.5, 2.4, 3.2, 4.5)),
    ):
        required += [WIDE.replace(activation=activation, weight_scale=s) for s in scales]
    title = "Issue 6's cases: tanh, ReLU and linear on both sides of the critical scale"
    factor_table(title, required, WIDE)
    others = [
        WIDE.replace(activation=a, init=i, weight_scale=s)
        for a, i, s in (
            ("tanh", "orthogonal", 1.0),
            ("tanh", "xavier", 1.5),
            ("tanh", "he", 1.0),
            ("relu", "orthogonal", 1.0),
            ("relu", "orthogonal", 1.5),
            ("relu", "he", 1.0),
            ("sigmoid", "gaussian", 1.0),
            ("sigmoid", "gaussian", 17.0),
            ("elu", "gaussian", 1.0),
            ("leaky_relu", "gaussian", 1.2),
        )
    ]
    others += [
        WIDE.replace(activation=a, task=t, weight_scale=s)
        for a, t, s in (("tanh", "adding", 1.0), ("tanh", "memory", 0.5), ("tanh", "memory", 2.0))
    ]
    factor_table("Other initialisations, activations and tasks", others, WIDE)
    narrow = WIDE.replace(hidden_size=64)
    factor_table(
        "Narrow network (hidden 64): same means, wider spread over seeds",
        [
            narrow.replace(activation=a, weight_scale=s)
            for a, s in (("relu", 1.4), ("tanh", 2.4), ("linear", 1))
        ],
        WIDE,
    )
    deep = WIDE.replace(num_layers=3)
    decades_table(
        "Three layers: the lattice prediction of the end-to-end change",
        [deep.replace(activation=a, weight_scale=s) for a, s in (("tanh", 1), ("relu", 1.4), ("linear", 1))],
        WIDE,
    )
    critical_table()
    batch_norm_table()
    layer_table()
    edge_table()


if __name__ == "__main__":
    main()
