"""Cutting a script into the statements lineage traces: semicolons, procedure bodies and blocks.

sqlglot parses one statement at a time and cuts a script at its semicolons; a procedure body or an
anonymous block has semicolons inside it, so cut that way a ``CREATE PROCEDURE ... BEGIN ...
END`` comes apart into a command and fragments. This module reads the script's tokens once, as
the dialect tokenizes them but with no token swallowing the rest of a statement as a "command",
and follows the block structure:

* a procedure's header (name, parameters, options, ``LANGUAGE``, ``AS``/``IS`` and PL/SQL's
  declarations) is dropped, and its body is cut into its statements; a ``$$ ... $$`` or quoted
  body is tokenized again on its own; a body in another language (JavaScript, Python) is opaque;
* a function, trigger or package is dropped whole (no data flows when it is created);
* anonymous blocks: ``BEGIN ... END`` (not ``BEGIN TRANSACTION``), Oracle's ``DECLARE ... BEGIN
  ... END``, PostgreSQL's ``DO $$ ... $$``;
* inside a block, procedural control adds nothing: ``DECLARE``, assignments, ``IF ... THEN``,
  ``ELSE``, loops, labels, exception handlers, ``RETURN``, ``CALL``, ``EXECUTE IMMEDIATE``,
  ``COMMIT``; the data statements in their branches are kept, in textual order;
* T-SQL needs no semicolons: a new statement starts at a statement keyword (``INSERT``,
  ``UPDATE``, ``SELECT`` that does not continue the statement before it, ``IF``, ``SET``...), and
  ``GO`` ends a batch.

>>> [p.text for p in split_script("BEGIN IF x THEN INSERT INTO a SELECT 1; END IF; END; SELECT 2",
...     "bigquery")]
['INSERT INTO a SELECT 1', 'SELECT 2']
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from functools import cache

from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token, Tokenizer, TokenType


@dataclass(frozen=True, slots=True)
class Piece:
    """One statement to parse: ``source[start:end + 1]``, and whether it sits in a block."""

    source: str
    start: int
    end: int
    in_block: bool
    line: int = 1  # the line of ``source``'s first character in the script
    variables: frozenset[str] = frozenset()  # names the procedure or block declared before it

    @property
    def text(self) -> str:
        return self.source[self.start : self.end + 1]

    @property
    def first_line(self) -> int:
        """The script line the statement starts on."""
        return self.line + self.source.count("\n", 0, self.start)


WORDS = (TokenType.IDENTIFIER, TokenType.STRING, TokenType.NATIONAL_STRING)
STRINGS = {TokenType.STRING, TokenType.RAW_STRING, TokenType.HEREDOC_STRING, TokenType.NATIONAL_STRING}
TRANSACTION = {
    "TRANSACTION",
    "TRAN",
    "WORK",
    "DEFERRED",
    "IMMEDIATE",
    "EXCLUSIVE",
    "DISTRIBUTED",
    "ISOLATION",
}
LOOP_ENDS = {"IF", "LOOP", "WHILE", "FOR", "REPEAT"}
BLOCK_LEADS = {"THEN", "ELSE", "DO", "LOOP", "AS", "IS"}
CONTROL_LEADS = {
    "IF",
    "ELSEIF",
    "ELSIF",
    "WHEN",
    "ELSE",
    "WHILE",
    "FOR",
    "FORALL",
    "LOOP",
    "REPEAT",
    "EXCEPTION",
}
CONTROL = {
    "DECLARE", "SET", "RETURN", "CALL", "EXEC", "EXECUTE", "PRINT", "RAISE", "RAISERROR", "THROW",
    "COMMIT", "ROLLBACK", "BREAK", "CONTINUE", "LEAVE", "ITERATE", "OPEN", "FETCH", "CLOSE",
    "DEALLOCATE", "NULL", "EXIT", "GOTO", "ASSERT", "LET", "SIGNAL", "RESIGNAL", "GET", "PERFORM",
    "SAVEPOINT", "RELEASE", "BEGIN", "WAITFOR", "USE",
}  # fmt: skip
"""Statements of procedural control: inside a block they read or write no table's rows."""
SQL_LANGUAGES = {"SQL", "PLPGSQL", "PLSQL", "SQLSCRIPT", "TSQL"}
ROUTINES = {"FUNCTION", "TRIGGER", "PACKAGE", "TYPE"}
PROCEDURES = {"PROCEDURE", "PROC"}
TSQL_STARTS = {
    "INSERT", "UPDATE", "DELETE", "MERGE", "SELECT", "WITH", "CREATE", "DROP", "TRUNCATE", "ALTER",
    "DECLARE", "SET", "IF", "ELSE", "WHILE", "RETURN", "EXEC", "EXECUTE", "PRINT", "RAISERROR", "THROW",
    "BREAK", "CONTINUE", "GOTO", "OPEN", "FETCH", "CLOSE", "DEALLOCATE", "USE", "GRANT", "COMMIT",
    "ROLLBACK", "WAITFOR",
}  # fmt: skip
BODIES = {"SELECT", "VALUES", "EXEC", "EXECUTE", "INSERT", "UPDATE", "DELETE", "MERGE"}
BLOCK_WORDS = re.compile(r"\b(?:BEGIN|DECLARE|PROC|PROCEDURE|FUNCTION|TRIGGER|PACKAGE|DO|LOOP|CALL)\b", re.I)
"""Words without which a script has no block, procedure or routine (tokens decide when present)."""
SET_OPERATORS = {"UNION", "ALL", "INTERSECT", "EXCEPT", "MINUS", "DISTINCT"}


def word(token: Token | None) -> str | None:
    """A token's keyword, upper-cased; None for quoted names, strings and the end."""
    if token is None or token.token_type in WORDS or token.token_type in STRINGS:
        return None
    return token.text.upper()


@cache
def _structure_tokenizer(dialect: str) -> Tokenizer:
    """The dialect's tokenizer, but no keyword reads the rest of its statement as one string."""
    engine = Dialect.get_or_raise(dialect)
    cls = type(f"{engine.tokenizer_class.__name__}Structure", (engine.tokenizer_class,), {"COMMANDS": set()})
    return cls(dialect=engine)


def needs_structure(sql: str, tokens: list[Token], dialect: str) -> bool:
    """Whether a script has blocks or routines (or is T-SQL) and must be cut by :func:`split_script`."""
    if dialect == "tsql":
        return True
    if not BLOCK_WORDS.search(sql):  # the common case, decided on the text alone
        return False
    for token in tokens:
        if token.token_type in (TokenType.COMMAND, TokenType.BEGIN, TokenType.DECLARE, TokenType.PROCEDURE):
            return True
        if token.token_type == TokenType.FUNCTION or word(token) in ("PROCEDURE", "PROC"):
            return True
    return False


def split_script(sql: str, dialect: str) -> list[Piece]:
    """Every statement of ``sql`` to trace, in textual order (blocks opened, control dropped)."""
    return list(_Splitter(dialect).split(sql, in_block=False))


@dataclass
class _Splitter:
    dialect: str
    tsql: bool = field(init=False)
    variables: set[str] = field(default_factory=set)  # parameters, DECLAREd and LET names, loop records

    def __post_init__(self) -> None:
        self.tsql = self.dialect == "tsql"

    def split(self, source: str, in_block: bool, line: int = 1) -> Iterator[Piece]:
        tokens = _structure_tokenizer(self.dialect).tokenize(source)
        yield from _Walk(self, source, tokens, in_block, line).pieces()


@dataclass
class _Walk:
    """One pass over one source's tokens."""

    splitter: _Splitter
    source: str
    tokens: list[Token]
    outer_block: bool
    line: int
    stack: list[str] = field(default_factory=list)  # "begin" | "case" | "body" (T-SQL AS without BEGIN)
    out: list[Piece] = field(default_factory=list)
    declaring: bool = False  # in a DECLARE section (PL/pgSQL, Snowflake Scripting): names, then BEGIN

    @property
    def in_block(self) -> bool:
        return self.outer_block or any(level != "case" for level in self.stack)

    def at(self, index: int) -> Token | None:
        return self.tokens[index] if 0 <= index < len(self.tokens) else None

    def transaction_begin(self, index: int) -> bool:
        token, following = self.tokens[index], self.at(index + 1)
        return (
            " " in token.text.strip()  # one token "BEGIN TRANSACTION"
            or following is None
            or following.token_type == TokenType.SEMICOLON
            or word(following) in TRANSACTION
        )

    def pieces(self) -> Iterator[Piece]:
        chunk: list[Token] = []
        paren = 0
        index = 0
        tokens = self.tokens
        while index < len(tokens):
            token = tokens[index]
            kind = token.token_type
            key = word(token)
            if kind == TokenType.L_PAREN:
                paren += 1
            elif kind == TokenType.R_PAREN:
                paren = max(0, paren - 1)
            if paren > 0 or kind in (TokenType.L_PAREN, TokenType.R_PAREN):
                chunk.append(token)
                index += 1
                continue
            if kind == TokenType.SEMICOLON:
                yield from self.emit(chunk)
                chunk = []
                index += 1
                continue
            if key == "GO" and self.splitter.tsql:
                yield from self.emit(chunk)
                chunk = []
                self.stack = [level for level in self.stack if level != "body"]
                index += 1
                continue
            if not chunk and key in ("CREATE", "REPLACE"):
                routine = self.routine(index)
                if routine in PROCEDURES:
                    index = yield from self.procedure(index)
                    continue
                if routine in ROUTINES:
                    index = self.skip_routine(index)
                    continue
            if not chunk and key == "DECLARE" and self.splitter.dialect == "oracle":
                index = yield from self.procedure(index)  # an anonymous block: declarations, then BEGIN
                continue
            if not chunk and key == "DO" and self.at(index + 1) is not None:
                index = yield from self.do_block(index)
                continue
            if key == "BEGIN" and not self.transaction_begin(index) and self.opens_block(chunk):
                yield from self.emit(chunk)  # what led to it ("IF x THEN") is dropped as control
                chunk = []
                self.declaring = False
                self.stack.append("begin")
                index += 1
                if word(self.at(index)) in ("TRY", "CATCH", "ATOMIC"):
                    index += 1
                continue
            if key == "CASE":
                self.stack.append("case")
            elif key == "END" and word(self.at(index + 1)) not in LOOP_ENDS:
                if not self.stack or self.stack[-1] != "case":  # a block's end ends its last statement
                    yield from self.emit(chunk)
                    chunk = []
                if self.stack:
                    self.stack.pop()
            elif self.splitter.tsql and chunk and self.starts_tsql_statement(chunk, index):
                yield from self.emit(chunk)
                chunk = []
            chunk.append(token)
            index += 1
        yield from self.emit(chunk)

    def opens_block(self, chunk: list[Token]) -> bool:
        if self.splitter.tsql or not chunk:
            return True
        return (
            word(chunk[0]) in CONTROL_LEADS
            or word(chunk[-1]) in BLOCK_LEADS
            or chunk[-1].token_type == TokenType.COLON
        )

    def routine(self, index: int) -> str | None:
        """PROCEDURE, FUNCTION, ... when the CREATE at ``index`` makes one (within its first words)."""
        for token in self.tokens[index + 1 : index + 8]:
            key = word(token)
            if key in PROCEDURES or key in ROUTINES:
                return key
            if key in (
                "TABLE",
                "VIEW",
                "AS",
                "SELECT",
                "INDEX",
                "SCHEMA",
                "DATABASE",
            ) or token.token_type in (
                TokenType.L_PAREN,
                TokenType.SEMICOLON,
            ):
                return None
        return None

    def statement_end(self, index: int) -> int:
        """The index of the semicolon (or the end) closing the statement at ``index`` (depth 0)."""
        paren = 0
        while index < len(self.tokens):
            kind = self.tokens[index].token_type
            paren += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
            if kind == TokenType.SEMICOLON and paren <= 0:
                return index
            index += 1
        return index

    def language(self, start: int, end: int) -> str | None:
        for position in range(start, min(end, len(self.tokens) - 1)):
            if word(self.tokens[position]) == "LANGUAGE":
                return (word(self.tokens[position + 1]) or self.tokens[position + 1].text).upper()
        return None

    def body(self, token: Token, language: str | None) -> Iterator[Piece]:
        """The statements of a quoted body (``$$ ... $$``, ``'...'``), when it is SQL."""
        if language is not None and language not in SQL_LANGUAGES:
            return
        text = token.text
        offset = self.source.find(text, token.start)
        line = self.line + self.source.count("\n", 0, offset) if offset >= 0 else self.line
        yield from self.splitter.split(text, in_block=True, line=line)

    def procedure(self, index: int) -> Generator[Piece, None, int]:
        """Skip a procedure's (or a PL/SQL block's) header; cut its body. Returns the next index."""
        paren = 0
        start = index
        end = self.statement_end(index)
        declarations = word(self.tokens[index]) == "DECLARE"  # PL/SQL: names then types, until BEGIN
        index += 1
        while index < len(self.tokens):
            token = self.tokens[index]
            kind = token.token_type
            key = word(token)
            paren += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
            following = self.at(index + 1)
            previous = self.at(index - 1)
            leads = (TokenType.L_PAREN, TokenType.COMMA) if paren == 1 else (TokenType.SEMICOLON,)
            if kind == TokenType.VAR and previous is not None and key not in ("IN", "OUT", "INOUT"):
                after_mode = word(previous) in ("IN", "OUT", "INOUT") and paren == 1
                if (paren == 1 and (previous.token_type in leads or after_mode)) or (
                    paren == 0
                    and declarations
                    and (previous.token_type in leads or word(previous) in ("IS", "AS", "DECLARE"))
                ):
                    self.splitter.variables.add(token.text.lower())  # a parameter, a declared variable
            if paren == 0 and key in ("IS", "AS") and self.splitter.dialect == "oracle":
                declarations = True
            if paren == 0 and key == "BEGIN" and not self.transaction_begin(index):
                return index  # the main loop opens the block
            if paren == 0 and key in ("AS", "IS") and following is not None:
                if following.token_type in STRINGS:
                    end = self.statement_end(index)
                    yield from self.body(following, self.language(start, end))
                    return end
                if self.splitter.tsql and word(following) not in ("CALLER", "OWNER", "SELF", "BEGIN"):
                    self.stack.append("body")
                    return index + 1
            if self.splitter.tsql and key == "GO":
                return index
            if kind == TokenType.SEMICOLON and end == index and self.splitter.dialect != "oracle":
                return index  # no body: CREATE PROCEDURE ... EXTERNAL NAME ...;
            index += 1
        return index

    def do_block(self, index: int) -> Generator[Piece, None, int]:
        """PostgreSQL's ``DO [LANGUAGE l] $$ ... $$ [LANGUAGE l]``."""
        end = self.statement_end(index)
        language = self.language(index, end)
        for position in range(index + 1, end):
            if self.tokens[position].token_type in STRINGS:
                yield from self.body(self.tokens[position], language)
                break
        return end

    def skip_routine(self, index: int) -> int:
        """Past a function, trigger or package: its body holds no data flow of its creation."""
        depth = 0
        paren = 0
        awaiting_begin = False
        while index < len(self.tokens):
            token = self.tokens[index]
            kind = token.token_type
            key = word(token)
            paren += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
            if paren == 0:
                following = self.at(index + 1)
                if (
                    key in ("IS", "AS")
                    and self.splitter.dialect == "oracle"
                    and following is not None
                    and following.token_type not in STRINGS
                ):
                    awaiting_begin = True
                if key in ("BEGIN", "CASE") and not (key == "BEGIN" and self.transaction_begin(index)):
                    depth += 1
                    awaiting_begin = False
                elif key == "END" and word(following) not in LOOP_ENDS:
                    depth = max(0, depth - 1)
                elif kind == TokenType.SEMICOLON and depth == 0 and not awaiting_begin:
                    return index + 1
                elif key == "GO" and self.splitter.tsql:
                    return index
            index += 1
        return index

    def starts_tsql_statement(self, chunk: list[Token], index: int) -> bool:
        """Whether the keyword at ``index`` begins a new T-SQL statement (no semicolon before it)."""
        if self.stack and self.stack[-1] == "case":
            return False
        key = word(self.tokens[index])
        if key not in TSQL_STARTS:
            return False
        first = word(chunk[0])
        previous = word(chunk[-1])
        following = self.at(index + 1)
        rest = chunk[1:]
        if first == "WITH":  # CTEs, then the statement they belong to
            body = next(
                (p for p, t in enumerate(rest) if word(t) in BODIES and self.at_depth_zero(rest, p)), None
            )
            if body is None:
                return key not in BODIES
            first, rest = word(rest[body]), rest[body + 1 :]
        if key == "SELECT":
            if previous in SET_OPERATORS or previous == "FOR":
                return False
            if first in ("INSERT", "CREATE"):  # its query, once: CREATE VIEW v AS [WITH ...] SELECT
                return any(word(t) in BODIES for t in self.depth_zero(rest))
            return True
        if key in ("UPDATE", "DELETE", "INSERT") and first == "MERGE":
            return False
        if key == "SET" and first in ("UPDATE", "MERGE", "ALTER"):
            return False
        if key == "WITH":
            return first != "CREATE" and following is not None and following.token_type == TokenType.VAR
        if key == "IF":
            return word(following) not in ("EXISTS", "NOT") and previous not in ("TABLE", "VIEW", "PROCEDURE")
        if key in ("EXEC", "EXECUTE") and first == "INSERT":
            return False
        if key == "FETCH" and previous in ("ROWS", "ROW"):
            return False
        return not (key in ("OPEN", "CLOSE") and first == "DECLARE")

    @staticmethod
    def at_depth_zero(tokens: list[Token], position: int) -> bool:
        paren = 0
        for token in tokens[:position]:
            paren += (token.token_type == TokenType.L_PAREN) - (token.token_type == TokenType.R_PAREN)
        return paren == 0

    @staticmethod
    def depth_zero(tokens: list[Token]) -> Iterator[Token]:
        paren = 0
        for token in tokens:
            paren += (token.token_type == TokenType.L_PAREN) - (token.token_type == TokenType.R_PAREN)
            if paren == 0:
                yield token

    def emit(self, chunk: list[Token]) -> Iterator[Piece]:
        if chunk and self.in_block:
            self.declared(chunk)
            if self.declaring and word(chunk[0]) != "DECLARE":
                if chunk[0].token_type == TokenType.VAR:
                    self.splitter.variables.add(chunk[0].text.lower())  # "b text;" in a DECLARE section
                return
        statement = strip_control(chunk, self.in_block)
        if statement:
            yield Piece(
                self.source,
                statement[0].start,
                statement[-1].end,
                self.in_block,
                self.line,
                frozenset(self.splitter.variables),
            )

    def declared(self, chunk: list[Token]) -> None:
        """Note the variables a block statement declares (their names are not columns)."""
        key = word(chunk[0])
        names = self.splitter.variables
        if key == "DECLARE":
            for token in chunk[1:]:
                if token.token_type == TokenType.VAR and word(token) not in ("CONTINUE", "EXIT", "UNDO"):
                    names.add(token.text.lower())
                elif token.token_type != TokenType.COMMA:
                    break
            self.declaring = self.splitter.dialect in ("postgres", "redshift", "snowflake") and len(chunk) > 1
        elif key == "LET" and len(chunk) > 1:
            names.add(chunk[1].text.lower())
        elif key in ("FOR", "FORALL") and len(chunk) > 1:
            names.add(chunk[1].text.lower())  # the loop's record or index
        elif len(chunk) > 1 and chunk[1].token_type == TokenType.COLON_EQ:
            names.add(chunk[0].text.lower())


def _find(tokens: list[Token], words: set[str]) -> int | None:
    """The position of the first of ``words`` at depth 0 (outside parentheses and CASE ... END)."""
    paren = case = 0
    for position, token in enumerate(tokens):
        kind = token.token_type
        paren += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
        key = word(token)
        if paren == 0 and key == "CASE":
            case += 1
        elif paren == 0 and key == "END" and case:
            case -= 1
        elif paren == 0 and not case and key in words and position > 0:
            return position
    return None


def strip_control(chunk: list[Token], in_block: bool) -> list[Token] | None:
    """The data statement in ``chunk`` with its control prefix removed, or None if it is control.

    >>> from sqlglot.tokens import Tokenizer
    >>> [t.text for t in strip_control(Tokenizer().tokenize("ELSE IF x > 1 THEN DELETE FROM t"), True)]
    ['DELETE', 'FROM', 't']
    """
    tokens = chunk
    while tokens:
        if (
            len(tokens) > 1
            and tokens[1].token_type == TokenType.COLON
            and tokens[0].token_type == TokenType.VAR
        ):
            tokens = tokens[2:]  # a label: "outer_loop: LOOP"
            continue
        key = word(tokens[0])
        if key in ("IF", "ELSEIF", "ELSIF", "WHEN") or (key == "CASE" and in_block):
            then = _find(tokens, {"THEN"})
            if then is None:
                return None  # T-SQL's IF <condition>: the statement it guards is cut apart
            tokens = tokens[then + 1 :]
        elif key in ("WHILE", "FOR"):
            do = _find(tokens, {"DO", "LOOP"})
            if do is None:
                return None
            tokens = tokens[do + 1 :]
        elif key == "FORALL":
            statement = _find(tokens, {"INSERT", "UPDATE", "DELETE", "MERGE"})
            if statement is None:
                return None
            tokens = tokens[statement:]
        elif key in ("ELSE", "LOOP", "REPEAT", "EXCEPTION"):
            tokens = tokens[1:]
        elif key in ("END", "UNTIL"):
            return None
        else:
            break
    if not tokens:
        return None
    key = word(tokens[0])
    assignment = len(tokens) > 1 and tokens[1].token_type == TokenType.COLON_EQ
    if in_block and (key in CONTROL or assignment):
        return None
    return tokens
