"""The Sweep tab: the phase diagram of vanishing and exploding."""
