"""The Diagnosis dock: what the gradient does, why, and which fix helps."""
