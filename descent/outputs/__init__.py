"""Rendering to files: the render API, the layered renderer, encoding and atomic publishing."""

from .clip import QUALITIES, RenderError, RenderResult, default_name, render

__all__ = ["QUALITIES", "RenderError", "RenderResult", "default_name", "render"]
