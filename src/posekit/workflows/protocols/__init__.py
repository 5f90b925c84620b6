"""Evaluation protocols that run experts on videos: degradations against a clean reference, held-out spans."""
