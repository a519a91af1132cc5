"""Tests of the typecheck room."""
