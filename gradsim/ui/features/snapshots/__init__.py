"""Snapshots and bundles: the plots as PNG/SVG figures."""
