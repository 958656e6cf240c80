"""The 'Exploding: training drifts over the edge' preset, iteration by iteration, and why its numbers.

    python3 docs/exploding_drift.py            # the preset's run: regime, loss, update ratio, ...
    python3 docs/exploding_drift.py --scan     # the same network over a range of learning rates

The run table is what the preset's description quotes (tests/engine/test_presets.py checks each
number). The scan shows the choice: with one layer every learning rate from 0.0015 to 0.0028
drifts over the edge within 25-55 iterations (two layers are erratic: some rates never overflow),
and whatever the rate, the measured regime is exploding for at most two iterations before the
overflow, because a gradient step is proportional to the gradient.
"""

from __future__ import annotations

import argparse
import math

from gradsim.engine.presets import get_preset
from gradsim.engine.regime import measure
from gradsim.engine.simulation import replay

PRESET = "exploding-training-drift"
SCAN_RATES = (0.0015, 0.0018, 0.002, 0.0022, 0.0025, 0.0028)


def print_run() -> None:
    config = get_preset(PRESET).config
    print(f"{'it':>3} {'regime':10} {'decades':>8} {'loss':>10} {'update W_hh':>11} {'||W_hh||_2':>10}")
    for record in replay(config, 300):
        measured = measure(record)
        update = record.update_ratios.get("weight_hh_l0", math.nan)
        print(
            f"{record.iteration:3d} {measured.regime:10} {measured.decades:8.2f} {record.loss:10.3g} "
            f"{update:11.2g} {record.spectral_norms[0]:10.4g}"
        )
    if record.nonfinite is not None:
        print(record.nonfinite.describe())


def print_scan() -> None:
    base = get_preset(PRESET).config
    print(f"{'layers':>6} {'rate':>7} {'first exploding':>15} {'non-finite':>10}")
    for layers in (1, 2):
        for rate in SCAN_RATES:
            config = base.replace(num_layers=layers, learning_rate=rate)
            first, last = None, None
            for record in replay(config, 150):
                if first is None and measure(record).regime == "exploding":
                    first = record.iteration
                last = record
            halted = last.iteration if last is not None and last.nonfinite is not None else None
            print(f"{layers:6d} {rate:7.4f} {first or '-':>15} {halted or '-':>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", action="store_true", help="scan the learning rate instead")
    if parser.parse_args().scan:
        print_scan()
    else:
        print_run()


if __name__ == "__main__":
    main()
