"""Helpers for the tests that compare this project with the official SDK."""
