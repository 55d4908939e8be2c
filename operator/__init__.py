"""videojob.operator."""
