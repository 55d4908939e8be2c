"""videojob.cli."""
