"""Extraction: its options, the experts, one clip through propose and refine, runs on the local or Ray
backend, scheduler partitions, merging and re-aggregation."""
