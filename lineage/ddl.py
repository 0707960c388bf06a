"""DDL that moves data or structure from one table to another, as lineage.

A :class:`Move` says that ``target`` gets ``source``'s rows (``rows``: each known column copied,
a direct edge) or only its structure (``CREATE TABLE a LIKE b``: no column edge):

* ``CREATE TABLE a LIKE b`` and PostgreSQL's ``CREATE TABLE a (LIKE b)``: structure;
* ``CREATE TABLE a CLONE b``, Teradata's ``CREATE TABLE a AS b WITH DATA``: rows
  (``WITH NO DATA``: structure);
* ``ALTER TABLE a RENAME TO b``, ``RENAME TABLE a TO b[, c TO d]``: rows, a to b;
* ``ALTER TABLE a SWAP WITH b``, ClickHouse's ``EXCHANGE TABLES a AND b``, Oracle's ``ALTER TABLE
  a EXCHANGE PARTITION p WITH TABLE b``, ``SWAP PARTITION``: rows, both ways;
* Hive's ``ALTER TABLE a EXCHANGE PARTITION (...) WITH TABLE b``, ClickHouse's ``ALTER TABLE a
  REPLACE|ATTACH PARTITION p FROM b``: rows, b to a; ``MOVE PARTITION p TO TABLE b``: a to b.

ClickHouse's mutations ``ALTER TABLE t UPDATE c = e WHERE ...`` and ``ALTER TABLE t DELETE WHERE
...`` are given back as the ``UPDATE``/``DELETE`` they are (:func:`mutation`).

>>> from sqlglot import parse_one
>>> moves(parse_one("ALTER TABLE a SWAP WITH b", read="snowflake"), "", "snowflake")
[Move(source='a', target='b', rows=True), Move(source='b', target='a', rows=True)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import SqlglotError

from lineage.names import table_name

NAME = r"((?:[`\"\[]?[\w$#@]+[`\"\]]?)(?:\s*\.\s*[`\"\[]?[\w$#@]+[`\"\]]?)*)"
PARTITION = r"(?:\(.*?\)|\S+)"
_FLAGS = re.I | re.S
COMMANDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            rf"^ALTER\s+TABLE\s+{NAME}\s+EXCHANGE\s+(?:SUB)?PARTITION\s+(?:FOR\s+)?{PARTITION}"
            rf"\s+WITH\s+TABLE\s+{NAME}",
            _FLAGS,
        ),
        "exchange",
    ),
    (
        re.compile(rf"^ALTER\s+TABLE\s+{NAME}\s+SWAP\s+PARTITION\s+.*?\bWITH\s+(?:TABLE\s+)?{NAME}", _FLAGS),
        "both",
    ),
    (re.compile(rf"^EXCHANGE\s+TABLES?\s+{NAME}\s+AND\s+{NAME}", _FLAGS), "both"),
    (
        re.compile(rf"^ALTER\s+TABLE\s+{NAME}\s+(?:REPLACE|ATTACH)\s+PARTITION\s+.*?\bFROM\s+{NAME}", _FLAGS),
        "into_first",
    ),
    (
        re.compile(rf"^ALTER\s+TABLE\s+{NAME}\s+MOVE\s+PARTITION\s+.*?\bTO\s+TABLE\s+{NAME}", _FLAGS),
        "first_to_second",
    ),
)
RENAMES = re.compile(r"^RENAME\s+TABLES?\s+(.*)$", re.I | re.S)
RENAME_PAIR = re.compile(rf"^\s*{NAME}\s+(?:TO|AS)\s+{NAME}\s*$", _FLAGS)
MUTATION = re.compile(
    rf"^ALTER\s+TABLE\s+{NAME}\s+(?:ON\s+CLUSTER\s+\S+\s+)?(UPDATE|DELETE)\s+(.*)$", re.I | re.S
)


@dataclass(frozen=True)
class Move:
    source: str
    target: str
    rows: bool  # the rows (each column copied) or only the structure


def _name(text: str, dialect: str) -> str:
    try:
        return table_name(exp.to_table(text.strip(), dialect=dialect))
    except SqlglotError:
        return text.strip().lower()


def _both(a: str, b: str) -> list[Move]:
    return [Move(a, b, True), Move(b, a, True)]


def moves(statement: exp.Expr, text: str, dialect: str) -> list[Move] | None:
    """The moves a DDL statement makes, or None when it is no such statement."""
    if isinstance(statement, exp.Create) and str(statement.args.get("kind") or "").upper() == "TABLE":
        node = statement.this
        target = table_name(node.this if isinstance(node, exp.Schema) else node)
        clone = statement.args.get("clone")
        if isinstance(clone, exp.Clone) and isinstance(clone.this, exp.Table):
            return [Move(table_name(clone.this), target, True)]
        like = statement.find(exp.LikeProperty)
        if like is not None and isinstance(like.this, exp.Table):
            return [Move(table_name(like.this), target, False)]
        source = statement.expression
        if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):  # Teradata AS b
            data = statement.find(exp.WithDataProperty)
            return [Move(table_name(source), target, not (data is not None and data.args.get("no")))]
        return None
    if isinstance(statement, exp.Alter) and isinstance(statement.this, exp.Table):
        table = table_name(statement.this)
        out: list[Move] = []
        for action in statement.args.get("actions") or []:
            if isinstance(action, exp.AlterRename) and isinstance(action.this, exp.Table):
                out.append(Move(table, table_name(action.this), True))
            elif isinstance(action, exp.SwapTable) and isinstance(action.this, exp.Table):
                out += _both(table, table_name(action.this))
        return out or None
    if isinstance(statement, exp.Command):
        return command_moves(text, dialect)
    return None


def command_moves(text: str, dialect: str) -> list[Move] | None:
    """Moves of the DDL sqlglot keeps as an opaque command (partition exchange, RENAME TABLE)."""
    sql = text.strip().rstrip(";").strip()
    for pattern, how in COMMANDS:
        match = pattern.match(sql)
        if match is None:
            continue
        first, second = _name(match.group(1), dialect), _name(match.group(match.lastindex or 2), dialect)
        if how == "exchange":  # Oracle swaps the partition and the table; Hive moves b's partition into a
            return _both(first, second) if dialect == "oracle" else [Move(second, first, True)]
        if how == "both":
            return _both(first, second)
        if how == "into_first":
            return [Move(second, first, True)]
        return [Move(first, second, True)]
    match = RENAMES.match(sql)
    if match is not None:
        out = []
        for pair in match.group(1).split(","):
            names = RENAME_PAIR.match(pair)
            if names is None:
                return None
            out.append(Move(_name(names.group(1), dialect), _name(names.group(2), dialect), True))
        return out
    return None


REPLACE_INTO = re.compile(r"^REPLACE\s+(?=INTO\b)", _FLAGS)


def mutation(text: str) -> str | None:
    """What sqlglot keeps as an opaque command, as the plain DML it is: ClickHouse's ``ALTER TABLE
    t UPDATE ... WHERE`` / ``DELETE WHERE`` as UPDATE / DELETE, MySQL's ``REPLACE INTO ... SELECT``
    as the INSERT it is (the rows it replaces are written either way)."""
    sql = text.strip().rstrip(";").strip()
    if REPLACE_INTO.match(sql):
        return REPLACE_INTO.sub("INSERT ", sql, count=1)
    match = MUTATION.match(sql)
    if match is None:
        return None
    table, verb, rest = match.groups()
    if verb.upper() == "UPDATE":
        return f"UPDATE {table} SET {rest}"
    return f"DELETE FROM {table} {rest}"


TITLE = re.compile(r"\(\s*(?:TITLE|FORMAT)\s+'(?:[^']|'')*'\s*\)", re.I)


def teradata_phrases(sql: str) -> str:
    """Teradata's column phrases ``(TITLE 'heading')``, ``(FORMAT '...')`` blanked
    out (same length, so positions and lines hold): display attributes, no data flow, and sqlglot
    does not read them.

    >>> teradata_phrases("SEL a (TITLE 'A''s'), b FROM t")
    'SEL a               , b FROM t'
    """
    return TITLE.sub(lambda m: " " * len(m.group(0)), sql)
