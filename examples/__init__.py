"""Runnable example shops and the reference order store."""
