"""Evaluation helpers: photo perturbations and public test corpora. Not used by the pipeline."""
