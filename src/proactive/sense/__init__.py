"""Sensing a real person's activity (ActivityWatch) into event sentences, privately."""
