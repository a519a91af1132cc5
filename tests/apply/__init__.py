"""Tests of the apply room."""
