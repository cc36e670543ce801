"""Per-invocation state (runtime/context.py): the deadline and the partner, bound per context,
so correct across threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from dynamorm_gen.runtime import context, deadline
from dynamorm_gen.runtime.context import EMPTY, CallContext, bind_partner
from dynamorm_gen.runtime.deadline import Deadline, bind


def test_partner_and_deadline_bind_independently_and_nest() -> None:
    assert context.current() is EMPTY
    limit = Deadline.after(5)
    with bind_partner("acme"):
        with bind(limit):
            assert (context.current().partner, deadline.current()) == ("acme", limit)
            with bind_partner("globex"):
                assert context.current().partner == "globex"
                assert context.current().deadline is limit
            with bind_partner(None):
                assert context.current().partner is None
            assert context.current().partner == "acme"
        assert deadline.current() is None and context.current().partner == "acme"
    assert context.current() is EMPTY


def test_a_call_context_cannot_be_changed() -> None:
    found = CallContext(None, "acme")
    with pytest.raises(AttributeError, match="cannot be changed"):
        found.partner = "globex"  # type: ignore[misc]
    assert repr(found) == "CallContext(deadline=None, partner='acme')"


def test_a_thread_starts_with_no_partner_unless_given_the_context() -> None:
    seen: dict[str, str | None] = {}

    def look(name: str) -> None:
        seen[name] = context.current().partner

    with bind_partner("acme"):
        plain = threading.Thread(target=look, args=("plain",))
        copied = threading.Thread(
            target=contextvars.copy_context().run, args=(look, "copied")
        )
        plain.start()
        copied.start()
        plain.join()
        copied.join()
    assert seen == {"plain": None, "copied": "acme"}


def test_asyncio_tasks_each_keep_their_partner() -> None:
    async def serve(partner: str) -> list[str | None]:
        seen = []
        with bind_partner(partner):
            for _ in range(3):
                await asyncio.sleep(0)  # the other task runs in between
                seen.append(context.current().partner)
                seen.append(await asyncio.to_thread(lambda: context.current().partner))
        return seen

    async def main() -> list[list[str | None]]:
        return list(await asyncio.gather(serve("acme"), serve("globex")))

    acme, globex = asyncio.run(main())
    assert set(acme) == {"acme"} and set(globex) == {"globex"}
