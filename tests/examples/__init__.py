"""Tests of the examples: they run as their docs say, against real servers where they need one."""
