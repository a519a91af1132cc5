"""The journal's record encoding (one encoder built once, one unstructure hook per class): exact and still strict."""

from __future__ import annotations

import json
import tempfile
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile.journal import Journal, JournalError
from reconcile.testing import InMemoryProvider


@rc.resource(kind="journal_note")
class Note:
    name: str = rc.identity()
    text: str = rc.spec(default="")
    ratio: float = rc.spec(default=0.0)
    labels: dict[str, str] = rc.spec(factory=dict)
    extra: Any = rc.spec(default=None)
    note_id: str | None = rc.computed()


class NoteProvider(InMemoryProvider[Note]):
    def __init__(self) -> None:
        super().__init__(Note)
        self.creates = 0

    def create(self, desired: Note, ctx: rc.Context) -> Note:
        self.creates += 1
        return super().create(desired, ctx)


texts = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)


@given(
    text=texts,
    ratio=st.floats(allow_nan=False, allow_infinity=False, width=64),
    labels=st.dictionaries(texts, texts, max_size=4),
)
def test_stored_values_read_back_exactly_whatever_their_characters(text: str, ratio: float, labels: dict) -> None:
    """Invariant: what the journal stores for a value (quotes, backslashes, U+2028, astral characters,
    any float) is standard JSON that reads back as the same value: desired in the intent, actual as last known."""
    providers = {"journal_note": NoteProvider()}
    note = Note("n", text=text, ratio=ratio, labels=labels)
    plan = rc.plan(rc.State([note]), rc.observe(providers))
    with tempfile.TemporaryDirectory() as folder, Journal.open(f"sqlite:///{folder}/j.db", types=[Note]) as journal:
        assert rc.apply(plan, providers, journal=journal).ok
        (step,) = journal.steps(journal.applies()[0].id)
        converter = rc.make_converter()
        assert step.desired == json.loads(json.dumps(converter.unstructure(note, Note)))
        assert journal.last_known(rc.address_of(note)) == providers["journal_note"].objects[rc.address_of(note)]


def test_a_value_with_no_json_form_is_refused_before_the_provider_is_called(tmp_path: Any) -> None:
    providers = {"journal_note": NoteProvider()}
    plan = rc.plan(rc.State([Note("ok"), Note("bad", extra=object())]), rc.observe(providers))
    with Journal.open(f"sqlite:///{tmp_path}/j.db") as journal:
        result = rc.apply(plan, providers, journal=journal, executor=rc.SerialExecutor())
        failed = {str(s.address): o.error for s, o in result.outcomes.items() if o.error is not None}
        assert list(failed) == ["journal_note/bad"]
        assert isinstance(failed["journal_note/bad"], JournalError)
        assert "journal_note/bad" in str(failed["journal_note/bad"]) and "no JSON form" in str(
            failed["journal_note/bad"]
        )
        assert providers["journal_note"].creates == 1, "only the good note reached the provider"
        assert [s.status for s in journal.steps(journal.applies()[0].id)] == ["succeeded"]


def test_a_value_with_no_json_form_from_the_provider_is_a_journal_error_too(tmp_path: Any) -> None:
    class Odd(NoteProvider):
        def create(self, desired: Note, ctx: rc.Context) -> Note:
            return attrs.evolve(super().create(desired, ctx), extra=object())

    providers = {"journal_note": Odd()}
    plan = rc.plan(rc.State([Note("n")]), rc.observe(providers))
    with Journal.open(f"sqlite:///{tmp_path}/j.db") as journal:
        try:
            result = rc.apply(plan, providers, journal=journal, executor=rc.SerialExecutor())
        except JournalError as exc:
            assert "no JSON form" in str(exc)
        else:
            (outcome,) = result.outcomes.values()
            assert isinstance(outcome.error, JournalError) and "no JSON form" in str(outcome.error)


def test_outcomes_are_flushed_by_one_thread_per_apply_which_ends_with_it(tmp_path: Any) -> None:
    import threading

    providers = {"journal_note": NoteProvider()}
    plan = rc.plan(rc.State([Note(f"n{i}") for i in range(200)]), rc.observe(providers))
    before = {t.ident for t in threading.enumerate()}
    with Journal.open(f"sqlite:///{tmp_path}/j.db") as journal:
        assert rc.apply(plan, providers, journal=journal, executor=rc.ThreadExecutor(8)).ok
        flushers = [t for t in threading.enumerate() if t.name.startswith("reconcile-journal-flush")]
        assert not flushers, "finish() ended the apply's flusher"
        new = [t.name for t in threading.enumerate() if t.ident not in before]
        assert all(name.startswith("reconcile-writer") for name in new), new
        assert [s.status for s in journal.steps(journal.applies()[0].id)] == ["succeeded"] * 200


_TEXT = st.text(max_size=20)
_MAYBE = st.none() | _TEXT
_NUMBER = st.floats(allow_nan=False) | st.integers()


@given(
    key=st.none() | st.binary(min_size=1, max_size=80),
    texts=st.lists(_TEXT, min_size=6, max_size=6),
    maybe=st.lists(_MAYBE, min_size=4, max_size=4),
    seq=st.integers(),
    attempt=st.integers(min_value=1),
    epoch=st.none() | st.integers(),
    times=st.lists(_NUMBER, min_size=3, max_size=3),
)
def test_the_per_record_digests_are_the_general_digest_of_the_same_fields(
    key: bytes | None, texts: list[str], maybe: list[str | None], seq: int, attempt: int, epoch: int | None,
    times: list[float],
) -> None:  # fmt: skip
    """The digests a step's records get on the hot path are ``digest`` over the same fields, so ``verify`` accepts them."""
    from reconcile.journal._codec import Codec

    codec = Codec(key)
    apply_id, address, op, idem, status, known = texts
    desired, actual, error, value = maybe
    started, finished, updated = times
    assert codec.intent_digest(apply_id, seq, address, op, attempt, idem, desired, epoch, started) == codec.digest(
        apply_id, seq, address, op, attempt, idem, desired, epoch, started
    )
    assert codec.outcome_digest(apply_id, seq, status, actual, error, finished) == codec.digest(
        apply_id, seq, status, actual, error, finished
    )
    assert codec.known_digest(known, value, updated) == codec.digest(known, value, updated)
