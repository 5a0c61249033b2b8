"""Training: labelled data sets, the embedding cache, training loops and synthetic data."""
