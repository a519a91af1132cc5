"""The executor interface: one method, ``execute(run)``, and its contract."""

from __future__ import annotations

from ..run import ApplyRun


class Executor:
    """Runs the steps of one apply; pass one to ``apply(plan, providers, executor=...)``.

    The one method to implement is ``execute(run)``. Its contract:

    - Start a step only once every step in ``run.plan.predecessors[step]`` has
      SUCCEEDED; when one of them fails, the step is SKIPPED with the failed
      step as ``cause``.
    - Call the provider with ``run.call`` (sync), ``run.call_async`` (async,
      see ``run.is_async``) or ``run.portable_call`` + ``run.checked`` (in
      another process). Never call it twice at once for the same address.
    - Emit ``STARTED`` strictly before the provider call and ``SUCCEEDED``
      strictly after it returns, and before any step that runs after it starts;
      end every step exactly once with ``run.record`` (and its event): no step
      is SUCCEEDED unless its provider call returned.
    - Catch ``Exception`` from a provider as the step's failure (retry
      ``TransientError`` by ``run.retry``); on ``KeyboardInterrupt`` start
      nothing new, let running steps end, record the rest as CANCELLED and set
      ``run.interrupted``; let any other ``BaseException`` propagate once
      running steps end.
    - Return when every step has an outcome (or after an interrupt).

    The built-in executors (``SerialExecutor``, ``ThreadExecutor``,
    ``AsyncExecutor``, ``FuturesExecutor``) schedule critical-path first under a
    global limit and optional per-kind limits, and emit every event in the
    thread or task that runs the step, except: ``QUEUED``, ``SKIPPED`` and
    ``CANCELLED`` come from whichever thread made that decision, and
    ``FuturesExecutor`` emits all events in the thread that called ``apply``.
    Listeners must therefore be thread-safe.
    """

    def execute(self, run: ApplyRun) -> None:
        """Run every step of ``run.plan`` as the contract above says, recording outcomes in ``run``."""
        raise NotImplementedError
