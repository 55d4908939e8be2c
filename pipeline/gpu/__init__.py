"""The GPU path: batched decode upload, torch region operations, stage overlap. Device-agnostic torch (CPU works)."""
