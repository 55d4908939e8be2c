"""videojob.common: small pure helpers that more than one layer needs (imports none of videojob's packages)."""
