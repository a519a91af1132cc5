"""Tests of the fleet room: control plane, agent, runtimes, CLI and demo, with real processes and HTTP."""
