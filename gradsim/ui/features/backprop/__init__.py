"""The Backprop tab: step through backpropagation one (layer, time step) at a time."""
