"""Helpers shared by every layer (files and JSON, distributed gathering, panoptic ids).

Nothing here imports the rest of the package: data, modeling, evaluation and engine all build
on it.
"""
