"""Record animations of a plot, the dashboard or the backward pass."""
