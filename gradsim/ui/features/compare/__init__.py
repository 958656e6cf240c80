"""Compare runs: pinned runs over the live plots, and the A/B tab."""
