"""videojob.pipeline."""
