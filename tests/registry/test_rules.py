"""Every problem code, each shown on a small home broken in one place, plus check digits and 就高从严.

Each :class:`Case` edits one file of the valid base home (:mod:`tests.homes`) and names the code
it must produce, the line it must point at, and any other code the same break legitimately causes.
The unbroken base home is the corrected version: it reports nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from registry.checkdigit import gb11643_check, gb11714_check, gb32100_check, is_valid
from registry.codes import RULES
from registry.errors import Location
from registry.home import Registry
from registry.model import Column, Dataset, Element, Settings
from registry.vocab import SecurityLevel
from tests.support.homes import BASE, TODAY, edit, line, load_and_check, write_home


@dataclass(frozen=True)
class Case:
    id: str
    code: str
    file: str
    old: str | None  # None: leave the file's text as it is
    new: str
    at: str | None  # needle of the line the problem points at, in ``where`` (None: line 0)
    where: str = ""  # the file the problem is reported in; ``file`` when empty
    also: tuple[str, ...] = ()  # other codes the same break legitimately causes
    encoding: str = ""  # write the edited file in this encoding instead of UTF-8


def case(id: str, code: str, file: str, old: str | None, new: str, at: str | None, **kw: object) -> object:
    return pytest.param(Case(id, code, file, old, new, at, **kw), id=f"{code}-{id}")  # type: ignore[arg-type]


ITEM_USCC = "      - element: uscc\n        source: 共享\n"
REP_REPLICA = "element: legal_rep_id\n        replica: agr_health_market\n"
USCC_REPLICA = "element: uscc\n        replica: agr_health_market\n"

CASES = [
    # --- the shape of the files: breaks kept to services.yaml, which nothing else refers to -----
    case(
        "mapping-value-in-scalar",
        "YAML001",
        "services.yaml",
        "    name: 医疗机构执业登记\n",
        "    name: 医疗机构执业登记: 许可\n",
        "执业登记: 许可",
    ),
    case(
        "nested-unknown-key",
        "YAML002",
        "services.yaml",
        "        source: 共享\n",
        "        sorce: 共享\n",
        "sorce:",
    ),
    case(
        "wrong-type",
        "YAML003",
        "services.yaml",
        "    department: health\n",
        "    department: [health, market]\n",
        "department:",
    ),
    case(
        "missing-required",
        "YAML003",
        "services.yaml",
        "    department: health\n",
        "",
        "- code: medical_license",
    ),
    case(
        "duplicate-key",
        "YAML004",
        "services.yaml",
        "    name_en: Medical institution practice registration\n",
        "    name_en: Medical institution practice registration\n    name_en: Medical licensing\n",
        "name_en: Medical licensing",
    ),
    case("gbk-file", "YAML005", "services.yaml", None, "", None, encoding="gbk"),
    # --- governance rules -------------------------------------------------------------------
    case(
        "department-twice",
        "GOV001",
        "departments.yaml",
        "    name_en: Chongqing Civil Affairs Bureau\n    parent: city\n",
        "    name_en: Chongqing Civil Affairs Bureau\n    parent: city\n"
        "  - code: civil  # 重复登记\n    name: 重庆市民政局\n    name_en: Civil Affairs\n",
        "# 重复登记",
    ),
    case(
        "element-in-two-files",
        "GOV001",
        "services.yaml",
        None,
        "elements:\n  - code: ent_name\n    name: 市场主体名称\n    name_en: Market entity name\n"
        "    owner: market\n    status: standard\n",
        "- code: ent_name",
    ),
    case(
        "unknown-parent",
        "GOV002",
        "departments.yaml",
        "    short_name: 市市场监管局\n    parent: city\n",
        "    short_name: 市市场监管局\n    parent: cq_gov\n",
        "- code: market",
    ),
    case(
        "unknown-provider",
        "GOV002",
        "datasets.yaml",
        "    provider: health\n    sharing: 非共享\n",
        "    provider: health_commission\n    sharing: 非共享\n",
        "- code: death_registry",
        also=("GOV006",),
    ),
    case(
        "unknown-code-list",
        "GOV002",
        "elements.yaml",
        "code_list: ent_type_list",
        "code_list: ent_kind",
        "- code: ent_type",
    ),
    case(
        "unknown-related-dataset",
        "GOV002",
        "datasets.yaml",
        "related: [market_entity]",
        "related: [market_entities]",
        "- code: medical_institution",
    ),
    case(
        "agreement-unknown-provider",
        "GOV002",
        "agreements.yaml",
        "provider: market",
        "provider: samr",
        "- code: agr_health_market",
    ),
    case(
        "agreement-unknown-element",
        "GOV002",
        "agreements.yaml",
        "      - legal_rep_id\n",
        "      - legal_rep_id\n      - ent_phone\n",
        "- code: agr_health_market",
    ),
    case(
        "agreement-unknown-dataset",
        "GOV002",
        "agreements.yaml",
        "    purpose:",
        "    datasets: [market_register]\n    purpose:",
        "- code: agr_health_market",
    ),
    case(
        "service-unknown-department",
        "GOV002",
        "services.yaml",
        "department: health",
        "department: health_bureau",
        "- code: medical_license",
        also=("GOV029",),
    ),
    case(
        "service-unknown-element",
        "GOV002",
        "services.yaml",
        ITEM_USCC,
        ITEM_USCC + "      - element: ent_phone\n",
        "- element: ent_phone",
    ),
    case(
        "service-unknown-agreement",
        "GOV002",
        "services.yaml",
        "agreement: agr_health_market",
        "agreement: agr_2025_001",
        "- element: legal_rep_id",
    ),
    case(
        "view-unknown-owner",
        "GOV002",
        "views.yaml",
        "owner: market",
        "owner: statistics",
        "- code: capital_by_type",
    ),
    case(
        "unregistered-element",
        "GOV003",
        "datasets.yaml",
        "        element: death_cause\n",
        "        element: death_cause\n      - name: SWRQ\n        element: death_date\n",
        "- name: SWRQ",
    ),
    case(
        "retired-element",
        "GOV004",
        "elements.yaml",
        "    unit: 万元\n    domain:\n      min: 0\n    owner: market\n    status: standard\n",
        "    unit: 万元\n    domain:\n      min: 0\n    owner: market\n    status: 废止\n",
        "- name: ZCZB",
        where="datasets.yaml",
    ),
    case(
        "superseded-element",
        "GOV004",
        "datasets.yaml",
        "        element: reg_capital\n",
        "        element: reg_capital\n      - name: ZZJGDM\n        element: org_code\n",
        "- name: ZZJGDM",
    ),
    case(
        "unknown-owner",
        "GOV005",
        "elements.yaml",
        "      code_list: ent_type_list\n    owner: market\n",
        "      code_list: ent_type_list\n    owner: market_bureau\n",
        "- code: ent_type",
        also=("GOV006",),
    ),
    case(
        "copy-without-replica",
        "GOV006",
        "datasets.yaml",
        USCC_REPLICA,
        "element: uscc\n",
        "- name: JGTYSHXYDM",
    ),
    case(
        "replica-of-unknown-agreement",
        "GOV007",
        "datasets.yaml",
        REP_REPLICA,
        "element: legal_rep_id\n        replica: agr_unknown\n",
        "- name: FDDBRSFZH",
    ),
    case(
        "owner-declares-replica",
        "GOV007",
        "datasets.yaml",
        "        element: uscc\n        basic: true\n",
        "        element: uscc\n        basic: true\n        replica: agr_health_market\n",
        "- name: TYSHXYDM",
    ),
    case(
        "agreement-does-not-grant",
        "GOV007",
        "agreements.yaml",
        "      - uscc\n",
        "",
        "- name: JGTYSHXYDM",
        where="datasets.yaml",
    ),
    case(
        "agreement-not-approved",
        "GOV007",
        "agreements.yaml",
        "status: 已批准",
        "status: 已申请",
        "- name: FDDBRSFZH",
        where="datasets.yaml",
        also=("GOV029",),
    ),
    case(
        "agreement-for-another-consumer",
        "GOV007",
        "agreements.yaml",
        "consumer: health",
        "consumer: civil",
        "- name: FDDBRSFZH",
        where="datasets.yaml",
        also=("GOV029",),
    ),
    case(
        "element-condition-missing",
        "GOV008",
        "elements.yaml",
        "    sharing_condition: 仅限卫生健康部门办理医疗机构执业登记时核验使用\n",
        "",
        "- code: legal_rep_id",
    ),
    case(
        "dataset-condition-missing",
        "GOV008",
        "datasets.yaml",
        "    sharing_condition: 敏感信息项仅按共享协议提供\n",
        "",
        "- code: market_entity",
    ),
    case(
        "grants-not-shared-element",
        "GOV009",
        "agreements.yaml",
        "      - legal_rep_id\n",
        "      - legal_rep_id\n      - death_cause\n",
        "- code: agr_health_market",
        also=("GOV032",),  # market does not own health's death_cause either
    ),
    case(
        "grants-not-shared-dataset",
        "GOV009",
        "agreements.yaml",
        "    purpose:",
        "    datasets: [death_registry]\n    purpose:",
        "- code: agr_health_market",
        also=("GOV032",),  # nor does it provide health's dataset
    ),
    case(
        "sensitive-unconditional",
        "GOV010",
        "elements.yaml",
        "sharing: 授权共享",
        "sharing: 无条件共享",
        "- code: legal_rep_id",
    ),
    case(
        "element-no-legal-basis",
        "GOV011",
        "elements.yaml",
        "    personal_category: 医疗健康\n    sharing: 不予共享\n"
        "    legal_basis: 《中华人民共和国个人信息保护法》第二十八条\n",
        "    personal_category: 医疗健康\n    sharing: 不予共享\n",
        "- code: death_cause",
    ),
    case(
        "dataset-no-legal-basis",
        "GOV011",
        "datasets.yaml",
        "    legal_basis: 《中华人民共和国个人信息保护法》第二十八条\n",
        "",
        "- code: death_registry",
    ),
    case(
        "basic-item-conditional",
        "GOV012",
        "datasets.yaml",
        "element: legal_rep_id\n      - name: ZCZB",
        "element: legal_rep_id\n        basic: true\n      - name: ZCZB",
        "- name: FDDBRZJHM",
    ),
    case(
        "replacement-unknown",
        "GOV013",
        "elements.yaml",
        "replaced_by: uscc",
        "replaced_by: unified_code",
        "- code: org_code",
    ),
    case(
        "replacement-inactive",
        "GOV013",
        "elements.yaml",
        "replaced_by: uscc",
        "replaced_by: org_code",
        "- code: org_code",
    ),
    case(
        "department-cycle",
        "GOV014",
        "departments.yaml",
        "    short_name: 市政府\n",
        "    short_name: 市政府\n    parent: market\n",
        "- code: city",
    ),
    case(
        "ends-before-start",
        "GOV015",
        "agreements.yaml",
        "valid_to: 2027-01-14",
        "valid_to: 2024-12-31",
        "- code: agr_health_market",
        also=("GOV007", "GOV024", "GOV029"),
    ),
    case(
        "approved-without-approver",
        "GOV015",
        "agreements.yaml",
        "    approver: 重庆市大数据应用发展管理局\n",
        "",
        "- code: agr_health_market",
    ),
    case(
        "key-not-a-column",
        "GOV016",
        "datasets.yaml",
        "key: [uscc]",
        "key: [uscc, ent_code]",
        "- code: market_entity",
    ),
    case(
        "security-below-items",
        "GOV017",
        "datasets.yaml",
        "security: sensitive",
        "security: 内部",
        "- code: market_entity",
    ),
    case(
        "min-above-max",
        "GOV018",
        "elements.yaml",
        "      min: 0\n",
        "      min: 100\n      max: 10\n",
        "- code: reg_capital",
    ),
    case(
        "bad-pattern",
        "GOV018",
        "elements.yaml",
        "      max_length: 200\n",
        "      max_length: 200\n      pattern: '[一-龥'\n",
        "- code: ent_name",
    ),
    case(
        "length-and-max-length",
        "GOV018",
        "elements.yaml",
        "      length: 9\n",
        "      length: 9\n      max_length: 9\n",
        "- code: org_code",
    ),
    case(
        "empty-codes",
        "GOV018",
        "elements.yaml",
        "      code_list: ent_type_list\n",
        "      codes: []\n",
        "- code: ent_type",
    ),
    case(
        "codes-and-code-list",
        "GOV018",
        "elements.yaml",
        "      code_list: ent_type_list\n",
        "      code_list: ent_type_list\n      codes: ['1100']\n",
        "- code: ent_type",
    ),
    case(
        "date-format-without-directive",
        "GOV018",
        "elements.yaml",
        "      max_length: 200\n",
        "      max_length: 200\n      date_format: YYYY-MM-DD\n",
        "- code: ent_name",
    ),
    case(
        "sql-file-missing",
        "GOV019",
        "views.yaml",
        "sql: sql/capital_by_type.sql",
        "sql: sql/capital.sql",
        "sql: sql/capital.sql",
    ),
    case(
        "no-sql-at-all",
        "GOV019",
        "views.yaml",
        "    sql: sql/capital_by_type.sql\n",
        "",
        "- code: capital_by_type",
    ),
    case("asks-applicant", "GOV020", "services.yaml", "source: 共享", "source: 申请人", "- element: uscc"),
    case(
        "collected-by-nobody",
        "GOV021",
        "datasets.yaml",
        "      - name: ZCZB\n        element: reg_capital\n",
        "",
        "- code: reg_capital",
        where="elements.yaml",
        also=("GOV039",),  # the view still reads reg_capital, no longer a column of market_entity
    ),
    case(
        "synonym-is-another-name",
        "GOV022",
        "elements.yaml",
        "    name_en: Enterprise type\n",
        "    name_en: Enterprise type\n    synonyms: [企业名称]\n",
        "- code: ent_type",
    ),
    case(
        "english-synonym-is-another-name",
        "GOV022",
        "elements.yaml",
        "    name_en: Enterprise type\n",
        "    name_en: Enterprise type\n    synonyms: [Enterprise name]\n",
        "- code: ent_type",
    ),
    case(
        "english-name-differs-in-case",
        "GOV022",
        "elements.yaml",
        "    name_en: Enterprise type\n",
        "    name_en: ENTERPRISE NAME\n",
        "- code: ent_type",
    ),
    case(
        "element-twice",
        "GOV023",
        "datasets.yaml",
        "        element: reg_capital\n",
        "        element: reg_capital\n      - name: QYMCJC\n        element: ent_name\n",
        "- name: QYMCJC",
    ),
    case(
        "source-column-twice",
        "GOV023",
        "datasets.yaml",
        "      - name: QYLX\n",
        "      - name: QYMC  # 与企业名称列重名\n",
        "# 与企业名称列重名",
    ),
    case(
        "agreement-expired",
        "GOV024",
        "agreements.yaml",
        "valid_to: 2027-01-14",
        "valid_to: 2025-12-31",
        "- code: agr_health_market",
        also=("GOV007", "GOV029"),
    ),
    case(
        "agreement-not-yet-valid",
        "GOV024",
        "agreements.yaml",
        "valid_from: 2025-01-15",
        "valid_from: 2026-03-01",
        "- code: agr_health_market",
        also=("GOV007", "GOV029"),
    ),
    case(
        "agreement-provider-not-owner",
        "GOV032",
        "agreements.yaml",
        "    provider: market\n",
        "    provider: civil\n",
        "- code: agr_health_market",
    ),
    case(
        "two-departments-one-uscc",
        "GOV034",
        "departments.yaml",
        "    name_en: Chongqing Health Commission\n    parent: city\n",
        "    name_en: Chongqing Health Commission\n    parent: city\n    uscc: 11500226MB1D37341C\n",
        "- code: health",
    ),
    case(
        "center-not-a-department",
        "GOV040",
        "registry.yaml",
        '  division: "500000"\n',
        '  division: "500000"\n  center: big_data_bureau\n',
        "center: big_data_bureau",
    ),
    case(
        "agreement-ends-within-30-days",
        "GOV033",
        "agreements.yaml",
        "valid_to: 2027-01-14",
        "valid_to: 2026-01-31",
        "- code: agr_health_market",
    ),
    case(
        "dataset-code",
        "GOV025",
        "datasets.yaml",
        "code: death_registry",
        "code: Death-Registry",
        "- code: Death-Registry",
    ),
    case("department-code", "GOV025", "departments.yaml", "code: civil", "code: 民政局", "- code: 民政局"),
    case(
        "range-on-text",
        "GOV026",
        "elements.yaml",
        "    type: currency\n",
        "    type: 字符型\n",
        "- code: reg_capital",
    ),
    case(
        "check-digit-on-number",
        "GOV026",
        "elements.yaml",
        "    type: 字符型\n",
        "    type: 整型\n",
        "- code: uscc",
    ),
    case(
        "date-format-on-number",
        "GOV026",
        "elements.yaml",
        "      min: 0\n",
        "      min: 0\n      date_format: '%Y%m%d'\n",
        "- code: reg_capital",
    ),
    case(
        "collected-candidate",
        "GOV027",
        "elements.yaml",
        "    sharing: unconditional\n    status: standard\n",
        "    sharing: unconditional\n    status: 候选\n",
        "- code: ent_name",
    ),
    case(
        "uscc-check-character",
        "GOV028",
        "departments.yaml",
        "uscc: 11500226MB1D37341C",
        "uscc: 11500226MB1D37341D",
        "- code: market",
    ),
    case(
        "conditional-without-agreement",
        "GOV029",
        "services.yaml",
        "department: health",
        "department: civil",
        "- element: legal_rep_id",
    ),
    case(
        "not-shared-from-sharing",
        "GOV029",
        "services.yaml",
        None,
        "  - code: minimum_allowance\n    name: 最低生活保障审核确认\n"
        "    name_en: Minimum living allowance review\n    department: civil\n    elements:\n"
        "      - element: death_cause\n        source: sharing\n",
        "- element: death_cause",
    ),
    case(
        "code-valid-to-before-from",
        "GOV036",
        "codelists.yaml",
        "        label_en: Joint-stock company\n",
        "        label_en: Joint-stock company\n        valid_from: 2020\n        valid_to: 2019\n",
        '- value: "1200"',
    ),
    case(
        "code-periods-overlap",
        "GOV036",
        "codelists.yaml",
        "        label_en: Joint-stock company\n",
        "        label_en: Joint-stock company\n        valid_to: 2019\n"
        '      - {value: "1200", label: 股份公司, valid_from: 2019}\n',
        '- {value: "1200"',
    ),
]


def _case(param: object) -> Case:
    return param.values[0]  # type: ignore[attr-defined, no-any-return]


LINEAGE_RULES = ("GOV030", "GOV031", "GOV038", "GOV039")  # GOV038/039: tests/attacks/test_propagation.py
# a home against the store: GOV035 tests/attacks/test_declarations.py, GOV037 test_git_and_api.py;
# the store's audit key: AUD001 tests/attacks/test_audit_log.py
STORE_RULES = ("GOV035", "GOV037", "AUD001")


def test_every_code_has_a_case() -> None:
    """Every declaration and governance code.

    Elsewhere: ING codes in tests/ingest/test_ingest.py, QA in tests/expectations/test_quality.py,
    and the lineage rules GOV030/GOV031 (they need views and parsed SQL) in
    tests/lineage/test_lineage.py.
    """
    covered = {_case(p).code for p in CASES}
    declared = {
        code
        for code in RULES
        if not code.startswith(("ING", "QA")) and code not in LINEAGE_RULES and code not in STORE_RULES
    }
    assert sorted(declared - covered) == []
    assert covered <= declared


def test_base_home_reports_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(write_home(tmp_path, BASE))
    registry, problems = load_and_check(tmp_path)
    assert [str(p) for p in problems] == []
    assert len(registry.elements) == 7 and len(registry.datasets) == 3


@pytest.mark.parametrize("case", CASES)
def test_rule(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = dict(BASE)
    text = str(files.get(case.file, ""))
    files[case.file] = (
        text
        if case.old is None and case.new == ""
        else (text + case.new if case.old is None else edit(text, case.old, case.new))
    )
    if case.encoding:
        files[case.file] = str(files[case.file]).encode(case.encoding)
    where = case.where or case.file
    expected = Location(where, line(files[where], case.at) if case.at else 0)

    monkeypatch.chdir(write_home(tmp_path / "broken", files))
    _, problems = load_and_check(Path("."))
    found = {(p.code, p.location) for p in problems}
    assert (case.code, expected) in found, "\n".join(str(p) for p in problems)
    assert {p.code for p in problems} == {case.code, *case.also}, "\n".join(str(p) for p in problems)

    monkeypatch.chdir(write_home(tmp_path / "corrected", BASE))
    _, problems = load_and_check(Path("."))
    assert case.code not in {p.code for p in problems}


def test_problem_text_names_file_line_code_and_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = dict(
        BASE,
        **{
            "departments.yaml": edit(
                str(BASE["departments.yaml"]), "uscc: 11500226MB1D37341C", "uscc: 11500226MB1D37341D"
            )
        },
    )
    monkeypatch.chdir(write_home(tmp_path, files))
    _, problems = load_and_check(Path("."))
    [problem] = problems
    market = line(files["departments.yaml"], "- code: market")
    assert str(problem).startswith(f"departments.yaml:{market}: GOV028 ")
    assert problem.to_json()["hint"] == RULES["GOV028"].hint
    assert problem.is_error


def test_warnings_are_warnings() -> None:
    warnings = {"GOV006", "GOV020", "GOV021", "GOV022", "GOV024", "GOV027", "GOV033", "GOV034", "GOV039"}
    assert {code for code, r in RULES.items() if r.severity == "warning"} == warnings


def test_agreement_validity_follows_the_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import date

    from registry.load import load_home
    from registry.rules import check_rules

    monkeypatch.chdir(write_home(tmp_path, BASE))
    registry, _ = load_home(".")
    assert check_rules(registry, today=TODAY) == []
    after = {p.code for p in check_rules(registry, today=date(2027, 1, 15))}
    assert after == {"GOV007", "GOV024", "GOV029"}
    assert all(p.dated for p in check_rules(registry, today=date(2027, 1, 15)))
    # its last day: still valid, and warned of (GOV033, from 30 days before)
    assert [p.code for p in check_rules(registry, today=date(2027, 1, 14))] == ["GOV033"]
    assert [p.code for p in check_rules(registry, today=date(2026, 12, 15))] == ["GOV033"]
    assert check_rules(registry, today=date(2026, 12, 14)) == []


# --- check characters (REFERENCE.md) -------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

VALID = [
    ("gb32100", "9135052155323005XL"),
    ("gb32100", "11500226MB1D37341C"),
    ("gb11643", "11010519491231002X"),
    ("gb11643", "440524188001010014"),
    ("gb11714", "55323005X"),  # the organisation code inside 9135052155323005XL
    ("gb11714", "MB1D37341"),  # the organisation code inside 11500226MB1D37341C
]


@pytest.mark.parametrize(("scheme", "value"), VALID)
def test_reference_examples_pass(scheme: str, value: str) -> None:
    assert is_valid(scheme, value)


@pytest.mark.parametrize(("scheme", "value"), VALID)
def test_check_character_is_recomputed(scheme: str, value: str) -> None:
    compute = {"gb32100": gb32100_check, "gb11643": gb11643_check, "gb11714": gb11714_check}[scheme]
    assert compute(value[:-1]) == value[-1]


def _one_character_changes(value: str, alphabet: str, positions: range | None = None) -> list[str]:
    out = []
    for i in positions if positions is not None else range(len(value)):
        out += [value[:i] + c + value[i + 1 :] for c in alphabet if c != value[i]]
    return out


@pytest.mark.parametrize(("scheme", "value"), [v for v in VALID if v[0] == "gb32100"])
def test_uscc_any_one_character_change_fails(scheme: str, value: str) -> None:
    # weights are non-zero modulo the prime 31, so every single substitution is caught
    changed = _one_character_changes(value, USCC_ALPHABET)
    assert changed and not [v for v in changed if is_valid(scheme, v)]


@pytest.mark.parametrize(("scheme", "value"), [v for v in VALID if v[0] == "gb11643"])
def test_resident_id_any_one_character_change_fails(scheme: str, value: str) -> None:
    changed = _one_character_changes(value, "0123456789", range(17))
    changed += _one_character_changes(value, "0123456789X", range(17, 18))
    assert changed and not [v for v in changed if is_valid(scheme, v)]


@pytest.mark.parametrize(("scheme", "value"), [v for v in VALID if v[0] == "gb11714"])
def test_organisation_code_one_character_change_fails(scheme: str, value: str) -> None:
    # modulo 11 catches a change of the check character and any change by less than 11 in value
    changed = _one_character_changes(value, "0123456789X", range(8, 9))
    for i, c in enumerate(value[:8]):
        k = ORG_ALPHABET.index(c)
        near = [d for d in ORG_ALPHABET if 0 < abs(ORG_ALPHABET.index(d) - k) < 11]
        changed += [value[:i] + d + value[i + 1 :] for d in near]
    assert changed and not [v for v in changed if is_valid(scheme, v)]


@pytest.mark.parametrize(
    ("scheme", "value"),
    [
        ("gb32100", "9135052155323005X"),  # too short
        ("gb32100", "9135052155323005XLL"),
        ("gb32100", "913505215532300IXL"),  # I is not in the alphabet
        ("gb11643", "1101051949123100X2"),  # X only as the check character
        ("gb11643", "11010519491231002"),
        ("gb11714", "55323005"),
        ("gb11714", "55323005-X"),
        ("gb11714", "5532300?X"),
    ],
)
def test_malformed_identifiers_fail(scheme: str, value: str) -> None:
    assert not is_valid(scheme, value)


def test_gb11714_check_maps_ten_to_x_and_eleven_to_zero() -> None:
    assert gb11714_check("55323005") == "X"
    bodies = ["".join(p) for p in (f"{n:08d}" for n in range(0, 200))]
    assert {gb11714_check(b) for b in bodies} >= {"0", "X"}
    for body in bodies:
        total = sum(int(c) * w for c, w in zip(body, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
        assert gb11714_check(body) == {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))


# --- 就高从严: a dataset is as secure as its most secure item -----------------------------------


def _element(code: str, security: str) -> Element:
    return Element(code=code, name=code, name_en=code, owner="market", security=security)  # type: ignore[arg-type]


def _registry(declared: str | None, *levels: str) -> tuple[Registry, Dataset]:
    elements = {f"e{i}": _element(f"e{i}", level) for i, level in enumerate(levels)}
    columns = [Column(name=code.upper(), element=code) for code in elements]
    columns.append(Column(name="UNKNOWN", element="not_registered"))
    dataset = Dataset(
        code="d", name="数据集", name_en="Dataset", provider="market", security=declared, columns=columns
    )  # type: ignore[arg-type]
    return Registry.build(Settings(), {"elements": elements, "datasets": {"d": dataset}}), dataset


@pytest.mark.parametrize(
    ("declared", "levels", "expected"),
    [
        (None, ("公开", "内部"), SecurityLevel.INTERNAL),
        (None, ("public", "core", "sensitive"), SecurityLevel.CORE),
        ("内部", ("public", "敏感"), SecurityLevel.SENSITIVE),
        ("core", ("public", "internal"), SecurityLevel.CORE),
        ("public", (), SecurityLevel.PUBLIC),
        (None, (), SecurityLevel.PUBLIC),
    ],
)
def test_dataset_security_is_the_highest_level(
    declared: str | None, levels: tuple[str, ...], expected: SecurityLevel
) -> None:
    registry, dataset = _registry(declared, *levels)
    assert registry.dataset_security(dataset) == expected


def test_dataset_security_of_the_base_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(write_home(tmp_path, BASE))
    registry, _ = load_and_check(Path("."))
    security = {code: registry.dataset_security(ds) for code, ds in registry.datasets.items()}
    assert security == {
        "market_entity": SecurityLevel.SENSITIVE,  # declared, and legal_rep_id is 敏感
        "medical_institution": SecurityLevel.SENSITIVE,  # uscc is 公开, legal_rep_id 敏感
        "death_registry": SecurityLevel.CORE,  # death_cause is 核心
    }


def test_the_owners_own_service_may_collect_from_the_applicant(tmp_path: Path) -> None:
    """Asking the applicant is the source collection when the service belongs to the owner."""
    services = edit(str(BASE["services.yaml"]), "    department: health\n", "    department: market\n")
    services = edit(services, "source: 共享", "source: 申请人")
    _, problems = load_and_check(write_home(tmp_path, {**BASE, "services.yaml": services}))
    assert "GOV020" not in {p.code for p in problems}
    # the same question from another department is a finding
    other = edit(str(BASE["services.yaml"]), "source: 共享", "source: 申请人")
    _, problems = load_and_check(write_home(tmp_path, {**BASE, "services.yaml": other}))
    assert "GOV020" in {p.code for p in problems}
