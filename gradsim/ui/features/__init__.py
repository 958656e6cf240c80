"""Features that install themselves into the window, one package each; they do not import each other."""
