"""Per-invocation state (runtime/context.py): the deadline, the partner and the tenant, bound
per context, so correct across threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from dynamorm_gen.runtime import context, deadline
from dynamorm_gen.runtime.context import (
    EMPTY,
    MAX_TENANT_ID,
    CallContext,
    bind_partner,
    bind_tenant,
)
from dynamorm_gen.runtime.deadline import Deadline, bind
from dynamorm_gen.runtime.errors import InvalidTenant


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
    found = CallContext(None, "acme", "m-1")
    with pytest.raises(AttributeError, match="cannot be changed"):
        found.partner = "globex"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="cannot be changed"):
        found.tenant = "m-2"  # type: ignore[misc]
    assert (
        repr(found)
        == "CallContext(deadline=None, partner='acme', tenant='m-1', actor=None)"
    )


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


def test_the_tenant_binds_apart_from_the_partner_and_the_deadline() -> None:
    limit = Deadline.after(5)
    with bind_tenant("m-1"), bind_partner("acme"), bind(limit):
        found = context.current()
        assert (found.tenant, found.partner, found.deadline) == ("m-1", "acme", limit)
        with bind_tenant("m-2"):
            assert context.current().tenant == "m-2"
            assert context.current().partner == "acme"
        with bind_partner("globex"), bind(None):
            assert context.current().tenant == "m-1"
        with bind_tenant(None):
            assert context.current().tenant is None
        assert context.current().tenant == "m-1"
    assert context.current() is EMPTY


@pytest.mark.parametrize(
    "tenant_id",
    [
        "",
        "m#1",
        "m 1",
        "m|1",
        "Ω-1",
        "m\x00",
        "m" * (MAX_TENANT_ID + 1),
        7,
        b"m-1",
    ],
)
def test_a_tenant_id_holds_letters_digits_and_three_marks_only(
    tenant_id: object,
) -> None:
    class Sneaky(str):
        pass

    for value in (tenant_id, Sneaky("m-1")):
        with pytest.raises(InvalidTenant) as refused, bind_tenant(value):  # type: ignore[arg-type]
            pass
        assert context.current() is EMPTY
        if isinstance(value, str) and value:
            assert value not in str(refused.value)
    for fine in ("m-1", "M_2.x", "0", "a" * MAX_TENANT_ID):
        with bind_tenant(fine):
            assert context.current().tenant == fine


def test_a_thread_starts_with_no_tenant_and_tasks_keep_theirs() -> None:
    seen: dict[str, str | None] = {}

    def look(name: str) -> None:
        seen[name] = context.current().tenant

    with bind_tenant("m-1"):
        plain = threading.Thread(target=look, args=("plain",))
        copied = threading.Thread(
            target=contextvars.copy_context().run, args=(look, "copied")
        )
        plain.start()
        copied.start()
        plain.join()
        copied.join()
    assert seen == {"plain": None, "copied": "m-1"}

    async def serve(tenant: str) -> set[str | None]:
        found = set()
        with bind_tenant(tenant):
            for _ in range(3):
                await asyncio.sleep(0)
                found.add(context.current().tenant)
        return found

    async def main() -> list[set[str | None]]:
        return list(await asyncio.gather(serve("m-1"), serve("m-2")))

    assert asyncio.run(main()) == [{"m-1"}, {"m-2"}]
