"""Recipes for the paper's figures and tables (one module each)."""
