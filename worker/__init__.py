"""videojob.worker."""
