"""Tests of the planfile room."""
