"""The errors ``reconcile.fleet.aws`` raises: API refusals, template problems, infrastructure commands."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import FleetError, InvalidInputError


class AwsError(FleetError):
    """Root of every error raised by ``reconcile.fleet.aws``."""


class AwsApiError(AwsError):
    """An AWS API refused a call for a reason a retry will not fix (throttling is a ``TransientError``).

    Attributes:
        code: the API's error code (``InvalidVpcID.NotFound``, ``NoSuchBucket``, ...).
        operation: the API operation (``CreateVpc``).
    """

    def __init__(self, code: str, operation: str, message: str) -> None:
        self.code = code
        self.operation = operation
        super().__init__(f"{operation}: {code}: {message}")


class TemplateError(AwsError, InvalidInputError):
    """An infrastructure template or its parameters are invalid; ``problems`` lists every one, by path.

    Attributes:
        source: the template's file name, or ``<template>``.
        problems: ``(path, message)`` pairs, e.g. ``("resources[2].kind", "unknown kind 'vpcc'")``.
    """

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  {path}: {message}" for path, message in self.problems)
        count = len(self.problems)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''}:\n{lines}")


class InfraError(AwsError):
    """An infrastructure command could not do what it was asked (a failed apply, a stack not bootstrapped)."""


__all__ = ["AwsApiError", "AwsError", "InfraError", "TemplateError"]
