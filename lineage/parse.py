"""Column-level lineage of SQL, parsed with sqlglot against a known schema.

One pass per statement: the statement is qualified (stars expanded, columns bound to their
tables), its scopes are built once, and every output column is traced through the scopes with a
memo, so CTEs and subqueries are resolved once however many outputs read them. Each edge has a
kind — ``direct`` (the value is copied), ``transformation`` (an expression of it),
``aggregation`` (an aggregate over it) or ``indirect`` (it is read by WHERE, JOIN, GROUP BY,
HAVING, QUALIFY, ORDER BY or a window's PARTITION/ORDER, and shapes the output without flowing
into it).

Writes are understood for ``CREATE TABLE/VIEW AS``, ``INSERT … SELECT``, ``MERGE``,
``UPDATE … FROM`` and ``SELECT … INTO``; a bare query writes to ``default_target`` (a view's
name). In a script, temporary tables (``CREATE TEMP TABLE``, ``#tmp``) are carried through to
the statements that read them, and forgotten when dropped.

>>> [str(e) for e in extract_lineage("select a, sum(b) as s from t group by a", default_target="v",
...     schema={"t": ["a", "b"]})[0].columns]
['t.a -> v.a (direct)', 't.a -> v.a (indirect)', 't.a -> v.s (indirect)', 't.b -> v.s (aggregation)']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from lineage.blocks import Piece, needs_structure, split_script
from lineage.ddl import teradata_phrases
from lineage.models import StatementLineage
from lineage.names import table_name
from lineage.script import (
    KnownTables,
    Script,
    create_kind,
    failure,
    statement_lineage,
    syntax_only,
    target_of,
)

SchemaInput = Mapping[str, Sequence[str]]


ANSI = ("", "ansi")
"""Names of sqlglot's default dialect: standard SQL, when no dialect is given."""


def _created_and_dropped(parsed: Sequence[tuple[Piece, list[exp.Expr] | Exception]]) -> set[int]:
    """The ``CREATE TABLE`` statements whose table a later statement of the script drops."""
    created: dict[str, exp.Create] = {}
    out: set[int] = set()
    for _, statements in parsed:
        for statement in statements if isinstance(statements, list) else ():
            if isinstance(statement, exp.Create) and create_kind(statement) == "TABLE":
                target, _ = target_of(statement.this)
                if target:
                    created[target] = statement
            elif isinstance(statement, exp.Drop):
                for table in [*(statement.args.get("tables") or []), statement.this]:
                    if isinstance(table, exp.Table) and table_name(table) in created:
                        out.add(id(created.pop(table_name(table))))
    return out


def _cut(tokens: list[Token]) -> Iterator[list[Token]]:
    """Tokens cut at top-level semicolons, as sqlglot's parser cuts a script."""
    chunk: list[Token] = []
    for token in tokens:
        if token.token_type != TokenType.SEMICOLON:
            chunk.append(token)
        elif chunk:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def extract_lineage(
    sql: str,
    dialect: str = "duckdb",
    schema: SchemaInput | None = None,
    default_target: str | None = None,
) -> list[StatementLineage]:
    """Lineage of every statement of ``sql``, procedures' and blocks' bodies included.

    A statement that cannot be parsed comes back ``failed`` with the reason and its line and
    column; the statements around it are still traced. A statement whose columns cannot be traced
    keeps the tables its syntax reads and writes, ``partial``. ``dialect`` ``ansi`` (or empty) is
    sqlglot's default, standard SQL.
    """
    name = "" if (dialect or "").lower() in ANSI else dialect
    if name == "teradata":
        sql = teradata_phrases(sql)
    script = Script(name, KnownTables(schema), default_target)
    try:
        engine = Dialect.get_or_raise(name)
        tokens = engine.tokenize(sql)
        structured = needs_structure(sql, tokens, name)
        if structured:  # procedures, blocks, T-SQL without semicolons: cut by the block structure
            chunks = [(engine.tokenize(piece.text), piece) for piece in split_script(sql, name)]
        else:
            chunks = [(part, Piece(sql, part[0].start, part[-1].end, False)) for part in _cut(tokens)]
    except (SqlglotError, ValueError) as exc:  # an unknown dialect, or text that cannot be tokenized
        reason, line, col = failure(exc)
        return [StatementLineage(0, sql, status="failed", reason=reason, line=line, col=col)]
    parser = engine.parser()
    parsed: list[tuple[Piece, list[exp.Expr] | Exception]] = []
    for part, piece in chunks:
        try:
            trees = parser.parse(part, piece.text if structured else sql)
            parsed.append((piece, [tree for tree in trees if tree is not None]))
        except SqlglotError as exc:
            parsed.append((piece, exc))
    script.transient = _created_and_dropped(parsed)
    out: list[StatementLineage] = []
    for piece, statements in parsed:
        text = piece.text
        if isinstance(statements, Exception):
            reason, line, col = failure(statements)
            if structured and line is not None:
                line += piece.first_line - 1
            out.append(StatementLineage(len(out), text, status="failed", reason=reason, line=line, col=col))
            continue
        script.in_block = piece.in_block
        script.variables = piece.variables
        for ordinal, statement in enumerate(statements):
            index = len(out)
            try:
                out.append(statement_lineage(script, statement, index, text))
            except Exception as exc:  # the columns could not be traced: the tables still are
                out.append(_fallback(script, engine, text, ordinal, index, exc))
    return out


def _fallback(
    script: Script, engine: Dialect, text: str, ordinal: int, index: int, exc: Exception
) -> StatementLineage:
    """The syntax-only lineage of a statement whose tracing raised (parsed afresh: tracing rewrites)."""
    try:
        statement = [s for s in engine.parse(text) if s is not None][ordinal]
        return syntax_only(script, statement, index, text, exc)
    except Exception:
        return StatementLineage(index, text, status="failed", reason=failure(exc)[0])
