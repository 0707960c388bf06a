"""Every problem code govreg reports, in one place.

A code is stable: tools and people grep for it, so a code is never reused for another meaning.
``YAML`` codes are about the shape of a declaration file, ``GOV`` codes are governance rules
over the whole registry, ``STORE`` codes come from the metadata store.

>>> RULES["GOV003"].title
'column maps to an unregistered element'
>>> RULES["GOV006"].severity
'warning'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A problem code: what it means, how bad it is and what to do about it."""

    code: str
    severity: Severity
    title: str
    principle: str
    hint: str


_RULES: tuple[Rule, ...] = (
    # --- the shape of the declaration files ---------------------------------------------
    Rule(
        "YAML001",
        "error",
        "malformed YAML",
        "declarations",
        "fix the YAML syntax at the line shown (indentation, quotes, a missing colon)",
    ),
    Rule(
        "YAML002",
        "error",
        "unknown key",
        "declarations",
        "remove the key or correct its spelling; the README lists every key",
    ),
    Rule(
        "YAML003",
        "error",
        "missing or wrongly typed value",
        "declarations",
        "give the field a value of the type the README names",
    ),
    Rule(
        "YAML004",
        "error",
        "duplicate key in one mapping",
        "declarations",
        "a key may appear once per mapping; delete or merge the repeated one",
    ),
    Rule(
        "YAML005",
        "error",
        "unreadable file",
        "declarations",
        "save the file as UTF-8 text, or make the path readable",
    ),
    # --- governance rules ---------------------------------------------------------------
    Rule(
        "GOV001",
        "error",
        "duplicate code",
        "one data, one source",
        "every department, element, dataset, view, agreement, service, indicator and code list "
        "needs a unique code; rename one of them",
    ),
    Rule(
        "GOV002",
        "error",
        "reference does not resolve",
        "references resolve",
        "declare the referenced entity, or correct the code",
    ),
    Rule(
        "GOV003",
        "error",
        "column maps to an unregistered element",
        "registered before collected",
        "register the element in elements/ or remove the column",
    ),
    Rule(
        "GOV004",
        "error",
        "column maps to a retired element",
        "registered before collected",
        "map the column to the element's replacement, or stop collecting it",
    ),
    Rule(
        "GOV005",
        "error",
        "element owner is not a department",
        "one data, one source",
        "name exactly one existing department as the element's owner",
    ),
    Rule(
        "GOV006",
        "warning",
        "duplicate collection",
        "one data, one source",
        "read the element from its owner through a sharing agreement and declare the column "
        "a replica of that agreement, or stop collecting it",
    ),
    Rule(
        "GOV007",
        "error",
        "replica without a valid agreement",
        "minimum necessary sharing",
        "the replica must name an approved, unexpired agreement whose consumer is the dataset's "
        "provider and which grants the element",
    ),
    Rule(
        "GOV008",
        "error",
        "conditional sharing without a condition",
        "minimum necessary sharing",
        "state the sharing condition (who may use it, for what)",
    ),
    Rule(
        "GOV009",
        "error",
        "agreement grants a not-shared element",
        "minimum necessary sharing",
        "remove the element from the agreement; not-shared data is not granted by agreement",
    ),
    Rule(
        "GOV010",
        "error",
        "sensitive personal information shared unconditionally",
        "minimum necessary sharing",
        "make the element conditional (with a condition) or not shared",
    ),
    Rule(
        "GOV011",
        "error",
        "not shared without a legal basis",
        "minimum necessary sharing",
        "cite the law, administrative regulation or central policy in legal_basis",
    ),
    Rule(
        "GOV012",
        "error",
        "basic-resource item not unconditional",
        "minimum necessary sharing",
        "basic information items of basic resources must be shared unconditionally; change the "
        "element's sharing type or the dataset's classification",
    ),
    Rule(
        "GOV013",
        "error",
        "superseded element without an existing replacement",
        "references resolve",
        "name the replacing element in replaced_by",
    ),
    Rule(
        "GOV014",
        "error",
        "department hierarchy has a cycle",
        "references resolve",
        "break the cycle: a department cannot be its own ancestor",
    ),
    Rule(
        "GOV015",
        "error",
        "invalid agreement term",
        "minimum necessary sharing",
        "valid_to must be on or after valid_from; an approved agreement names its approver",
    ),
    Rule(
        "GOV016",
        "error",
        "key column is not a declared column",
        "references resolve",
        "list in key only columns (by source name or element code) declared under columns",
    ),
    Rule(
        "GOV017",
        "error",
        "declared security level below its items",
        "就高从严",
        "a dataset's level is at least the highest level of its items; raise it or drop the "
        "field to let govreg derive it",
    ),
    Rule(
        "GOV018",
        "error",
        "invalid value domain",
        "standards drive checks",
        "fix the pattern, range, length or code list so that some value can satisfy it",
    ),
    Rule(
        "GOV019",
        "error",
        "SQL file missing or unreadable",
        "lineage drives the graph",
        "point sql at an existing .sql file relative to the declaring YAML file",
    ),
    Rule(
        "GOV020",
        "warning",
        "service asks the applicant for shared data",
        "no repeated collection",
        "take the element from the sharing platform (source: sharing) instead of asking again",
    ),
    Rule(
        "GOV021",
        "warning",
        "element collected by no dataset",
        "one data, one source",
        "declare the owner's dataset that collects it, or retire the element",
    ),
    Rule(
        "GOV022",
        "warning",
        "possible duplicate element",
        "one data, one source",
        "two elements share a name or synonym; merge them or make their names distinct",
    ),
    Rule(
        "GOV023",
        "error",
        "column collected twice in one dataset",
        "one data, one source",
        "map each element once per dataset, and each source column once",
    ),
    Rule(
        "GOV024",
        "warning",
        "agreement expired or not yet valid",
        "minimum necessary sharing",
        "renew the agreement or mark it expired",
    ),
    Rule(
        "GOV025",
        "error",
        "invalid identifier",
        "declarations",
        "codes of elements and datasets become warehouse names: use lower-case letters, digits "
        "and underscores, starting with a letter",
    ),
    Rule(
        "GOV026",
        "error",
        "element data type does not fit its domain",
        "standards drive checks",
        "a numeric range needs a numeric type, a date format a date type, a check digit a character type",
    ),
    Rule(
        "GOV027",
        "warning",
        "element in use is not yet a standard",
        "standards drive checks",
        "move the element up the registration ladder (qualified, standard) once it is agreed",
    ),
    Rule(
        "GOV028",
        "error",
        "identifier fails its check character",
        "declarations",
        "correct the unified social credit code (GB 32100): its last character is a check digit",
    ),
    Rule(
        "GOV029",
        "error",
        "service takes shared data it has no grant for",
        "minimum necessary sharing",
        "the element must be unconditional, owned by the service's department, or granted to it "
        "by an approved, unexpired agreement",
    ),
    Rule(
        "GOV030",
        "error",
        "view, indicator or agreement exposes data without the grant its sources need",
        "minimum necessary sharing",
        "obtain an approved agreement for the source element, or drop the column from the view; the "
        "path shows where the data comes from",
    ),
    Rule(
        "GOV031",
        "error",
        "declassification not allowed",
        "minimum necessary sharing",
        "a level may be lowered only on an output column made by aggregation over groups that are "
        "not an identifier, or by a known masking (method mask: govreg_mask; prefix: left(x, n) with "
        "n at most the declared length; hash: sha256 with the declared salt); never on a copy or "
        "any other transformation",
    ),
    Rule(
        "GOV032",
        "error",
        "agreement grants elements its provider does not own",
        "one data, one source",
        "the provider of an agreement must own every element it grants: name the owner as provider, or "
        "move the element to its own owner's agreement (after a transfer, migrate the agreement)",
    ),
    Rule(
        "GOV033",
        "warning",
        "agreement expires soon",
        "minimum necessary sharing",
        "the agreement ends within 30 days: renew it (new valid_to) or let the consumer know",
    ),
    Rule(
        "GOV034",
        "warning",
        "two departments share a unified social credit code",
        "one data, one source",
        "a USCC names one body: merge the departments, or correct the code of the one that is wrong",
    ),
    Rule(
        "GOV035",
        "error",
        "registration status move not allowed",
        "declarations",
        "statuses climb the ISO/IEC 11179 ladder (candidate, recorded, qualified, standard) one way; a "
        "retired element comes back only as a new candidate",
    ),
    Rule(
        "GOV036",
        "error",
        "code list validity periods are invalid",
        "standards drive checks",
        "give each code valid_from before valid_to, with periods of one code that do not overlap",
    ),
    Rule(
        "GOV037",
        "error",
        "apply would delete what was made through the API",
        "everything audited",
        "export the store into the home (govreg export --yaml) before apply, or pass --prune to delete it",
    ),
    Rule(
        "GOV038",
        "error",
        "view or indicator SQL does not parse",
        "references resolve",
        "fix the SQL at the position shown; SQL govreg cannot read cannot be checked for exposure",
    ),
    Rule(
        "GOV039",
        "warning",
        "lineage only partly resolved",
        "minimum necessary sharing",
        "name the columns the statement reads (no whole-row or pattern reads); until then its output "
        "takes the strictest classification of every table it reads",
    ),
    Rule(
        "GOV040",
        "error",
        "the big-data center is not a department",
        "references resolve",
        "set `center` in registry.yaml to the code of a declared department: the big-data center, "
        "the only department whose staff may hold center-admin tokens",
    ),
)

_INGEST: tuple[Rule, ...] = (
    # --- at the door: what ingestion refuses (the file is quarantined, the table untouched) ---
    Rule(
        "ING001",
        "error",
        "extract column maps to no registered element",
        "registered before collected",
        "register the element and map the column in the dataset's declaration, or drop the column "
        "from the extract",
    ),
    Rule(
        "ING002",
        "error",
        "required column missing from the extract",
        "registered before collected",
        "add the column to the extract, or make it optional in the dataset's declaration",
    ),
    Rule(
        "ING003",
        "error",
        "extract not in its declared encoding",
        "declarations",
        "re-export the file in the declared encoding, or correct the dataset's encoding",
    ),
    Rule(
        "ING004",
        "error",
        "malformed extract",
        "declarations",
        "fix the file at the line shown (column count, quoting) or re-export it whole",
    ),
    Rule(
        "ING005",
        "error",
        "values that cannot be cast",
        "standards drive checks",
        "correct the values, or declare on_cast_error: reject to set such rows aside",
    ),
    Rule(
        "ING006",
        "error",
        "extract has no rows",
        "declarations",
        "send the extract with its data rows; an empty or header-only file replaces nothing",
    ),
    Rule(
        "ING007",
        "error",
        "column named twice in the extract",
        "declarations",
        "give each column of the extract one unique header",
    ),
    Rule(
        "ING008",
        "error",
        "no extract to ingest",
        "declarations",
        "put the department's file in the dataset's landing folder",
    ),
    Rule(
        "ING009",
        "error",
        "extract decompresses beyond the bound",
        "declarations",
        "an xlsx (a zip) may not decompress to more than the configured size or ratio: send the data as "
        "CSV, or split it",
    ),
    Rule(
        "ING010",
        "error",
        "symbolic link in a landing folder",
        "registered before collected",
        "put the file itself in the landing folder; govreg never follows a link",
    ),
    Rule(
        "ING011",
        "error",
        "extract is not complete yet",
        "declarations",
        "the file is still being written: wait for its size to settle, or write its completion marker "
        "(<file>.done) when it is complete",
    ),
    Rule(
        "ING012",
        "error",
        "every row of the extract was set aside",
        "standards drive checks",
        "no row could be cast to its element types: look at <dataset>__rejects for the values, "
        "correct them and send the extract again",
    ),
)

_QUALITY: tuple[Rule, ...] = (
    # --- Great Expectations suites in the registry home (suites/<dataset>.json) ---
    Rule(
        "QA001",
        "error",
        "suite file is not valid JSON",
        "standards drive checks",
        "fix the JSON at the line shown, or save the suite again with Great Expectations",
    ),
    Rule(
        "QA002",
        "error",
        "not a Great Expectations suite",
        "standards drive checks",
        "use an expectation type Great Expectations (or govreg) knows, with its documented arguments",
    ),
    Rule(
        "QA003",
        "error",
        "suite for an unknown dataset",
        "references resolve",
        "name the suite file after a dataset code: suites/<dataset>.json",
    ),
    Rule(
        "QA004",
        "error",
        "expectation names a column the dataset does not have",
        "references resolve",
        "warehouse columns are element codes; use the element code of a declared column",
    ),
    Rule(
        "QA005",
        "error",
        "load blocked by its expectations",
        "write, audit, publish",
        "the live table was kept; inspect <dataset>__blocked and the quarantined file, correct the "
        "extract (or the expectation) and send it again",
    ),
    Rule(
        "QA006",
        "error",
        "view build blocked by its key",
        "write, audit, publish",
        "the live view table was kept; the view's SQL yields key values that are null or repeated: "
        "reduce each source to one row per key (QUALIFY row_number() ... = 1, GROUP BY) or correct "
        "the view's key",
    ),
)

_AUDIT: tuple[Rule, ...] = (
    # --- the audit log: signed checkpoints ---------------------------------------------------
    Rule(
        "AUD001",
        "error",
        "write to a signed audit log without its key",
        "everything audited",
        "set GOVREG_AUDIT_KEY or GOVREG_AUDIT_KEY_FILE to the key that signs this store (or put it in "
        ".govreg/audit.key, mode 0600); nothing was written",
    ),
)

RULES: dict[str, Rule] = {rule.code: rule for rule in (*_RULES, *_INGEST, *_QUALITY, *_AUDIT)}


def rule(code: str) -> Rule:
    """Look a code up; an unknown code is a programming error."""
    return RULES[code]
