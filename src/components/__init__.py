"""Inference components: the scoring path shared by batch and online serving."""
