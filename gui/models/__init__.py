"""Qt item models of the window: the upload queue and its filter proxy."""
