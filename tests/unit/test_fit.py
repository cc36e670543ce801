"""The line fitter (dynamorm_gen/compiler/fit.py): what it breaks, joins and keeps.

Every expected text here is also what ``ruff format`` keeps as it is.
"""

from __future__ import annotations

import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from dynamorm_gen.compiler import fit
from dynamorm_gen.compiler.fit import fit_line, fit_module


def _fit(text: str) -> str:
    return fit_module(text.strip("\n"))


def test_lines_that_fit_are_kept() -> None:
    line = "        self.handle = TableHandle(TODOS, connection, name=name)"
    assert fit_line(line) == [line]


def test_a_long_call_is_exploded_one_argument_per_line() -> None:
    line = (
        "        item = self.handle.get_item(Todo.make_key(user_id=user_id, "
        'todo_id=todo_id), entity="Todo", consistent=consistent)'
    )
    assert fit_line(line) == [
        "        item = self.handle.get_item(",
        "            Todo.make_key(user_id=user_id, todo_id=todo_id),",
        '            entity="Todo",',
        "            consistent=consistent,",
        "        )",
    ]


def test_nested_dicts_explode_outermost_first() -> None:
    line = (
        '        return {"partition_key_value": {"S": f"ORGANISATION#{self.org}#REGION#'
        '{self.region_code_of_the_organisation}"}, "sort": {"S": "X"}}'
    )
    assert fit_line(line) == [
        "        return {",
        '            "partition_key_value": {',
        '                "S": f"ORGANISATION#{self.org}#REGION#'
        '{self.region_code_of_the_organisation}",',
        "            },",
        '            "sort": {"S": "X"},',
        "        }",
    ]


def test_f_strings_with_nested_quotes_are_one_token() -> None:
    line = (
        '        self._set_key("GSI2SK", {"S": f"{value}#'
        '{wire.datetime_to_s(created_at, \'Payment.created_at\')}"}, "Payment")'
    )
    assert fit_line(line) == [
        "        self._set_key(",
        '            "GSI2SK",',
        '            {"S": f"{value}#{wire.datetime_to_s(created_at, \'Payment.created_at\')}"},',
        '            "Payment",',
        "        )",
    ]


def test_comprehensions_put_element_and_clauses_on_lines_of_their_own() -> None:
    line = (
        "        return [obj for obj, item in zip(written, items, strict=True) "
        "if batch.identity(self.handle, item) in unwritten]"
    )
    assert fit_line(line) == [
        "        return [",
        "            obj",
        "            for obj, item in zip(written, items, strict=True)",
        "            if batch.identity(self.handle, item) in unwritten",
        "        ]",
    ]


def test_a_conditional_element_is_not_split_at_its_if() -> None:
    line = (
        "        return BatchGet([None if item is None else Payment.from_item(item) "
        "for item in items], unprocessed)"
    )
    assert fit_line(line) == [
        "        return BatchGet(",
        "            [None if item is None else Payment.from_item(item) for item in items],",
        "            unprocessed,",
        "        )",
    ]


def test_and_chains_are_parenthesised_one_term_per_line() -> None:
    line = (
        "        return self.merchant_id == other.merchant_id and self.payment_id == "
        "other.payment_id and self.amount == other.amount"
    )
    assert fit_line(line) == [
        "        return (",
        "            self.merchant_id == other.merchant_id",
        "            and self.payment_id == other.payment_id",
        "            and self.amount == other.amount",
        "        )",
    ]


def test_a_guarded_or_chain_keeps_the_guard_on_the_if_line() -> None:
    line = (
        "        if self.assignee is not None and (type(self.assignee) is not str "
        'or "#" in self.assignee):'
    )
    assert fit_line(line) == [
        "        if self.assignee is not None and (",
        '            type(self.assignee) is not str or "#" in self.assignee',
        "        ):",
    ]


def test_an_or_chain_too_long_for_one_inner_line_goes_one_term_per_line() -> None:
    line = (
        "        if type(self.organisation_identifier_of_the_customer) is not str or "
        '"#" in self.organisation_identifier_of_the_customer:'
    )
    assert fit_line(line) == [
        "        if (",
        "            type(self.organisation_identifier_of_the_customer) is not str",
        '            or "#" in self.organisation_identifier_of_the_customer',
        "        ):",
    ]


def test_conditional_expressions_are_parenthesised_then_split() -> None:
    short = "        self.record_identifier = wire.new_ulid() if record_identifier is None else record_identifier"
    assert fit_line(short) == [
        "        self.record_identifier = (",
        "            wire.new_ulid() if record_identifier is None else record_identifier",
        "        )",
    ]
    long = (
        "        self.a_very_long_attribute_name = wire.new_ulid() if "
        "a_very_long_attribute_name_indeed is None else a_very_long_attribute_name_indeed"
    )
    assert fit_line(long) == [
        "        self.a_very_long_attribute_name = (",
        "            wire.new_ulid()",
        "            if a_very_long_attribute_name_indeed is None",
        "            else a_very_long_attribute_name_indeed",
        "        )",
    ]


def test_a_value_that_cannot_be_split_is_parenthesised_when_that_fits() -> None:
    line = '        return f"Payment(merchant_id={self.merchant_id!r}, payment_id={self.payment_id!r})"'
    assert fit_line(line) == [
        "        return (",
        '            f"Payment(merchant_id={self.merchant_id!r}, payment_id={self.payment_id!r})"',
        "        )",
    ]
    too_long = "        return f" + '"' + "x" * 90 + '"'
    assert fit_line(too_long) == [too_long]


def test_signatures_keep_their_return_annotation_on_the_closing_line() -> None:
    line = "    def get_todo(self, *, user_id: str, todo_id: str, consistent: bool = False) -> Todo | None:"
    assert fit_line(line) == [
        "    def get_todo(",
        "        self,",
        "        *,",
        "        user_id: str,",
        "        todo_id: str,",
        "        consistent: bool = False,",
        "    ) -> Todo | None:",
    ]


def test_what_follows_the_exploded_bracket_stays_with_its_close() -> None:
    line = '            raise wire.decode_error("CustomerRelationshipRecordWithALongName", exc) from None'
    assert fit_line(line) == [
        "            raise wire.decode_error(",
        '                "CustomerRelationshipRecordWithALongName",',
        "                exc,",
        "            ) from None",
    ]


def test_imports_are_parenthesised_one_name_per_line() -> None:
    line = "from dynamorm_gen.runtime.table import Connection, Page, TableDefinition, TableHandle, Xyz"
    assert fit_line(line) == [
        "from dynamorm_gen.runtime.table import (",
        "    Connection,",
        "    Page,",
        "    TableDefinition,",
        "    TableHandle,",
        "    Xyz,",
        ")",
    ]


def test_brackets_whose_meaning_a_trailing_comma_would_change_are_kept() -> None:
    subscript = (
        '            obj.organisation_identifier = item["organisation_identifier"]["S"]'
    )
    assert fit_line(subscript) == [subscript]
    one_tuple = '    __slots__ = ("a_single_slot_with_a_name_long_enough_to_pass_the_line_length_x",)'
    assert fit_line(one_tuple) == [one_tuple]
    literal = '    Currency = Literal["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "SEK", "NOK"]'
    assert fit_line(literal)[0] == "    Currency = Literal["


def test_comments_and_unknown_statements_are_kept() -> None:
    comment = "    amount: dict[str, int]  # " + "a long attribute doc " * 4
    assert fit_line(comment) == [comment]
    loop = "        for obj, item in zip(written_objects, written_items, other_items, strict=True):"
    assert fit_line(loop) == [loop]


def test_exploded_brackets_are_joined_when_they_fit() -> None:
    source = """
        return self.handle.count(
            {
                **_TODO_FOR_USER,
                "ExpressionAttributeValues": {":pk": {"S": x}},
            },
            entity="Todo",
        )
"""
    assert _fit(source) == "\n".join(
        [
            "        return self.handle.count(",
            '            {**_TODO_FOR_USER, "ExpressionAttributeValues": {":pk": {"S": x}}},',
            '            entity="Todo",',
            "        )",
        ]
    )
    assert _fit("    x = f(\n        a,\n        b,\n    )") == "    x = f(a, b)"


def test_other_multi_line_forms_and_docstrings_are_kept() -> None:
    source = """
    def __init__(
        self, connection: Connection | None = None, *, name: str | None = None
    ) -> None:
        \"\"\"A docstring whose text is long enough to pass the line length, and is kept as written.

        More text (
        \"\"\"
"""
    assert _fit(source) == source.strip("\n")


def test_generated_examples_are_a_fixed_point() -> None:
    """Generated code is already fitted: fitting it again changes nothing."""
    root = Path(__file__).resolve().parents[2]
    for path in sorted((root / "generated_examples").glob("*.py")):
        text = path.read_text()
        assert fit_module(text) == text, path.name


@pytest.mark.parametrize(
    "line",
    [
        '        self._between("#c_due", "due", {"S": wire.date_to_s(low, "Todo.due")}, {"S": wire.date_to_s(high, "Todo.due")})',
        '        obj.counters = {k0: int(v0["N"]) for k0, v0 in item["counters_with_a_long_name"]["M"].items()}',
        '_CUSTOMER_RELATIONSHIP_RECORD_REGION_CODE_VALUES = frozenset(("north_america_east", "north_america_west"))',
    ],
)
def test_ruff_keeps_what_the_fitter_writes(line: str, tmp_path: Path) -> None:
    path = tmp_path / "fitted.py"
    body = "\n".join(fit_line(line))
    if line.startswith(" "):
        body = "class C:\n    def f(self) -> None:\n" + body
    path.write_text(body + "\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "format",
            "--isolated",
            "--check",
            "--diff",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_f_strings_split_into_tokens_are_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Python 3.12 and later tokenize an f-string into parts (FSTRING_START, the tokens of
    its fields, FSTRING_END); the fitter reads it as one string, as 3.11's one token."""
    start, middle, end = 1001, 1002, 1003
    code = 'x = f("a", f"{y:>3}" + f"{f\'{z}\'}")'
    op, name = tokenize.OP, tokenize.NAME

    def token(kind: int, text: str) -> tokenize.TokenInfo:
        at = code.index(text, token.position)  # type: ignore[attr-defined]
        token.position = at + len(text)  # type: ignore[attr-defined]
        return tokenize.TokenInfo(kind, text, (1, at), (1, at + len(text)), code)

    token.position = 0  # type: ignore[attr-defined]
    tokens = [
        token(name, "x"),
        token(op, "="),
        token(name, "f"),
        token(op, "("),
        token(tokenize.STRING, '"a"'),
        token(op, ","),
        token(start, 'f"'),
        token(op, "{"),
        token(name, "y"),
        token(op, ":"),
        token(middle, ">3"),
        token(op, "}"),
        token(end, '"'),
        token(op, "+"),
        token(start, 'f"'),
        token(op, "{"),
        token(start, "f'"),
        token(op, "{"),
        token(name, "z"),
        token(op, "}"),
        token(end, "'"),
        token(op, "}"),
        token(end, '"'),
        token(op, ")"),
    ]
    monkeypatch.setattr(fit, "_FSTRING_START", start)
    monkeypatch.setattr(fit, "_FSTRING_END", end)
    monkeypatch.setattr(fit.tokenize, "generate_tokens", lambda readline: iter(tokens))
    pieces = fit._parse(code)
    assert pieces is not None
    call = pieces[3]
    assert isinstance(call, fit._Bracket)
    texts = [p.text for p in call.children if isinstance(p, fit._Token)]
    assert texts == ['"a"', ",", 'f"{y:>3}"', "+", "f\"{f'{z}'}\""]


def test_comments_ending_with_a_bracket_or_holding_quotes_are_only_comments() -> None:
    source = """
class Payment:
    amount: int  # Minor units (see the currency's exponent) [
    note: str | None  # Written as \"\"\"quoted\"\"\" text
    currency: str
    def f(self) -> None:
        return {"MERCHANT#": x, "PAYMENT#": y, "CUSTOMER#": z, "DISPUTE#": w, "REFUND#": v}
"""
    assert _fit(source).splitlines()[1:4] == source.strip("\n").splitlines()[1:4]
    assert _fit(source).splitlines()[-1] == "        }"
