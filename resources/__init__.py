"""Data files shipped with gradsim (presets, lessons, icons); installed as gradsim.resources."""
