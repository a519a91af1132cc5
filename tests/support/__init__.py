"""Helpers shared by the tests: resource kinds, planner worlds, the executor kit."""
