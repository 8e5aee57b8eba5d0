"""Annotation: candidates, the web app, its store, export to reward rows, agreement."""
