"""Small widgets and item delegates the window is built from."""
