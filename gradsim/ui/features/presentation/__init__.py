"""Presentation mode: everything scaled for a projector."""
