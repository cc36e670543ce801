"""DG209, the keys of two entities on one table colliding: the same reports as comparing every
pair, found by comparing only the pairs whose templates' leading literals meet, so that the
thousands of entities a 1 MiB schema can hold are checked in about linear time (the number of
full comparisons is counted here, never the time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamorm_gen.compiler import validate
from dynamorm_gen.compiler.load import load_file


def _schema(keys: list[tuple[str, str]]) -> str:
    lines = [
        "version: 1",
        "tables:",
        "  ledger:",
        "    keys: {pk: PK, sk: SK}",
        "entities:",
    ]
    for n, (pk, sk) in enumerate(keys):
        lines += [
            f"  E{n}:",
            "    table: ledger",
            f'    key: {{pk: "{pk}", sk: "{sk}"}}',
            "    attributes:",
            "      a: {type: string}",
            "      n: {type: integer, min: 0}",
        ]
    return "\n".join(lines) + "\n"


def _collisions(tmp_path: Path, keys: list[tuple[str, str]]) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(_schema(keys), encoding="utf-8")
    found = validate.check_files([load_file(path, "s.yaml")])
    assert all(d.code == "DG209" for d in found), [d.message for d in found]
    return [d.message for d in found]


def _brute_force(keys: list[tuple[str, str]]) -> list[str]:
    """Every pair, as DG209 was first written: each entity with its first earlier match."""
    attributes: dict[str, Any] = {"a": {"type": "string"}, "n": {"type": "integer"}}
    spec = [{"key": {"pk": pk, "sk": sk}, "attributes": attributes} for pk, sk in keys]
    shapes = [validate._key_shape(s) for s in spec]
    out = []
    for j, second in enumerate(shapes):
        for i, first in enumerate(shapes[:j]):
            assert first is not None and second is not None
            if all(
                validate.templates_intersect(first[r][1], second[r][1]) for r in (0, 1)
            ):
                out.append(
                    f"keys of 'E{j}' can equal keys of 'E{i}' on table 'ledger', so one"
                    " could overwrite the other"
                )
                break
    return out


PARTS = st.sampled_from(
    ["A#{a}", "A#{n}", "AB#{a}", "B#{a}", "{a}", "{n}", "A", "A#", "{a}#X", "X#{n}"]
)


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.tuples(PARTS, PARTS), min_size=1, max_size=8, unique=True))
def test_the_same_reports_as_comparing_every_pair(
    tmp_path_factory: pytest.TempPathFactory, keys: list[tuple[str, str]]
) -> None:
    tmp_path = tmp_path_factory.mktemp("keys")
    assert _collisions(tmp_path, keys) == _brute_force(keys)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    compare = validate.templates_intersect

    def counted(*args: Any) -> bool:
        calls[0] += 1
        return compare(*args)

    monkeypatch.setattr(validate, "templates_intersect", counted)
    return calls


@pytest.mark.parametrize(
    "key",
    [
        lambda n: (f"E{n}#{{a}}", "X"),  # told apart by the partition key
        lambda n: ("{a}", f"E{n}#{{a}}"),  # by the sort key alone
        lambda n: (f"T{n % 7}#{{a}}", f"E{n}#{{n}}"),  # by both, each part shared
    ],
    ids=["pk", "sk", "both"],
)
def test_thousands_of_entities_are_compared_only_where_keys_can_meet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: Any
) -> None:
    calls = _counting(monkeypatch)
    assert _collisions(tmp_path, [key(n) for n in range(2000)]) == []
    assert calls[0] == 0


def test_entities_whose_keys_all_collide_are_each_reported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(monkeypatch)
    found = _collisions(tmp_path, [("{a}", "{a}")] * 500)
    assert len(found) == 499
    assert found[0].startswith("keys of 'E1' can equal keys of 'E0'")
    assert calls[0] <= 2 * 499  # each the first entity it meets: pk and sk compared


def test_keys_that_all_start_alike_are_refused_past_a_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Told apart only after a placeholder, every pair would have to be compared."""
    monkeypatch.setattr(validate, "MAX_KEY_COMPARISONS", 300)
    calls = _counting(monkeypatch)
    found = _collisions(tmp_path, [("{a}", f"{{a}}#{n}") for n in range(40)])
    assert found == [
        "too many entities on table 'ledger' have keys that start alike: telling them"
        " apart would compare more than 300 pairs of key templates"
    ]
    assert calls[0] <= 2 * 300
