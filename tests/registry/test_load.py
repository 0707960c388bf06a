"""The YAML loader: every problem as file:line with a stable code, all of them at once, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.errors import DeclarationError, Location
from registry.load import load_home, load_valid_home
from registry.vocab import (
    AgreementStatus,
    DataType,
    OpenType,
    PersonalInfo,
    ResourceClass,
    SecurityLevel,
    ServiceSource,
    SharingType,
    Status,
    UpdateCycle,
)
from tests.support.homes import BASE, edit, line, write_home


def _home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changes: dict[str, str | bytes | None] | None = None
) -> dict[str, str | bytes]:
    """Write the base home with files replaced (``None`` removes one); cwd becomes the home."""
    files = {**BASE, **(changes or {})}
    kept = {name: text for name, text in files.items() if text is not None}
    monkeypatch.chdir(write_home(tmp_path / "home", kept))
    return kept


def _changed(file: str, old: str, new: str) -> dict[str, str | bytes | None]:
    return {file: edit(str(BASE[file]), old, new)}


def _shape(problems: list) -> list[tuple[str, Location]]:  # type: ignore[type-arg]
    return sorted((p.code, p.location) for p in problems)


# --- a valid home --------------------------------------------------------------------------------


def test_entities_know_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _home(tmp_path, monkeypatch)
    registry, problems = load_home(".")
    assert problems == []
    assert registry.count() == 18
    uscc_line = line(files["elements.yaml"], "- code: uscc")
    assert registry.elements["uscc"].loc == Location("elements.yaml", uscc_line)
    assert registry.departments["market"].loc == Location("departments.yaml", 6)
    steward = registry.departments["market"].stewards[0]
    assert steward.loc == Location("departments.yaml", line(files["departments.yaml"], "- name: 张伟"))
    medical = registry.datasets["medical_institution"]
    column_line = line(files["datasets.yaml"], "- name: FDDBRSFZH")
    assert medical.columns[1].loc == Location("datasets.yaml", column_line)
    item = registry.services["medical_license"].elements[1]
    assert item.loc == Location("services.yaml", line(files["services.yaml"], "- element: legal_rep_id"))
    value = registry.codelists["ent_type_list"].values[1]
    assert value.loc == Location("codelists.yaml", line(files["codelists.yaml"], '- value: "1200"'))
    assert registry.views["capital_by_type"].query.startswith("select ent_type")  # type: ignore[union-attr]


def test_chinese_labels_normalise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    registry, problems = load_home(".")
    assert problems == []
    uscc, rep, death = (registry.elements[c] for c in ("uscc", "legal_rep_id", "death_cause"))
    assert (uscc.type, uscc.security, uscc.sharing, uscc.open, uscc.update_cycle, uscc.status) == (
        DataType.STRING,
        SecurityLevel.PUBLIC,
        SharingType.UNCONDITIONAL,
        OpenType.OPEN,
        UpdateCycle.REALTIME,
        Status.STANDARD,
    )
    assert (rep.security, rep.personal, rep.status) == (
        SecurityLevel.SENSITIVE,
        PersonalInfo.SENSITIVE_PERSONAL,
        Status.QUALIFIED,
    )
    assert (death.security, death.sharing) == (SecurityLevel.CORE, SharingType.NOT_SHARED)
    assert registry.elements["org_code"].type == DataType.STRING  # the catalogue's one-letter code
    assert registry.elements["org_code"].status == Status.SUPERSEDED
    assert registry.datasets["market_entity"].classification == ResourceClass.BASIC
    assert registry.datasets["market_entity"].update_cycle == UpdateCycle.DAILY
    assert registry.agreements["agr_health_market"].status == AgreementStatus.APPROVED
    assert registry.services["medical_license"].elements[0].source == ServiceSource.SHARING
    # stored in canonical English tokens
    assert registry.elements["death_cause"].spec()["security"] == "core"


def test_registry_yaml_sharing_labels_are_aliases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    registry, problems = load_home(".")
    assert problems == []
    assert registry.settings.name == "重庆市政务数据资源目录"
    assert registry.settings.division == "500000"
    assert registry.elements["legal_rep_id"].sharing == SharingType.CONDITIONAL  # 授权共享
    assert registry.datasets["death_registry"].sharing == SharingType.NOT_SHARED  # 非共享


def test_city_labels_need_registry_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _home(tmp_path, monkeypatch, {"registry.yaml": None})
    _, problems = load_home(".")
    assert _shape(problems) == [
        ("YAML003", Location("datasets.yaml", line(files["datasets.yaml"], "sharing: 非共享"))),
        ("YAML003", Location("elements.yaml", line(files["elements.yaml"], "sharing: 授权共享"))),
    ]
    assert "授权共享" in " ".join(p.message for p in problems)


def test_settings_only_at_the_top(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch, {"sub/registry.yaml": "# 区县配置\nregistry:\n  name: 渝中区\n"})
    _, problems = load_home(".")
    assert _shape(problems) == [("YAML002", Location("sub/registry.yaml", 2))]
    assert "registry.yaml at the home's top" in problems[0].hint


def test_layout_is_free(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any *.yaml/*.yml below the home counts; hidden and skipped folders do not."""
    broken = "elements: [\n"
    _home(
        tmp_path,
        monkeypatch,
        {
            "services.yaml": None,
            "deep/more/services.yml": BASE["services.yaml"],
            ".git/x.yaml": broken,
            "landing/x.yaml": broken,
            ".hidden.yaml": broken,
            "notes.txt": broken,
        },
    )
    registry, problems = load_home(".")
    assert problems == []
    assert registry.services["medical_license"].loc == Location("deep/more/services.yml", 2)


def test_locations_outside_the_working_directory_are_absolute(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", {"a.yaml": "elements: {}\n"})
    _, problems = load_home(home)
    assert _shape(problems) == [("YAML003", Location(str(home / "a.yaml"), 1))]


# --- malformed files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("elements:\n  - code: a\n   name: 企业名称\n", 3),  # indentation
        ("elements:\n  - code: a\n\tname: 企业名称\n", 3),  # a tab
        ("elements:\n  - code: a\n    name: 企业名称: 全称\n", 3),  # a colon in a plain scalar
        ("elements:\n  - code: a\n    synonyms: [名称\n    owner: market\n", 4),  # unclosed [
        ("elements:\n  - code: a\n    name: *名称\n", 3),  # undefined alias
        ("elements: []\n---\nelements: []\n", 2),  # two documents
    ],
    ids=["indent", "tab", "colon", "bracket", "alias", "documents"],
)
def test_malformed_yaml_is_file_line_not_traceback(
    text: str, bad: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _home(tmp_path, monkeypatch, {"extra.yaml": text})
    registry, problems = load_home(".")
    assert _shape(problems) == [("YAML001", Location("extra.yaml", bad))]
    assert problems[0].message
    assert registry.count() == 18  # the other files still load


@pytest.mark.parametrize(
    ("file", "old", "new", "at"),
    [
        ("elements.yaml", "    sharing_condition: 仅限", "    sharing_conditon: 仅限", "sharing_conditon:"),
        ("elements.yaml", "elements:\n", "element:\n", "element:"),
        (
            "elements.yaml",
            "      check_digit: gb32100\n",
            "      check_digit: gb32100\n      patern: '^9'\n",
            "patern:",
        ),
        (
            "datasets.yaml",
            "        element: death_cause\n",
            "        element: death_cause\n        descripton: 死亡原因代码\n",
            "descripton:",
        ),
        ("departments.yaml", "        email:", "        mail:", "mail:"),
        (
            "codelists.yaml",
            "        label_en: Joint-stock company",
            "        lable_en: Joint-stock company",
            "lable_en:",
        ),
        ("agreements.yaml", "    approver:", "    approvor:", "approvor:"),
        ("services.yaml", "        agreement: agr", "        agreemnt: agr", "agreemnt:"),
        ("registry.yaml", "  sharing_labels:", "  sharing_label:", "sharing_label:"),
    ],
    ids=[
        "element",
        "section",
        "domain",
        "column",
        "steward",
        "code-value",
        "agreement",
        "service-item",
        "settings",
    ],
)
def test_unknown_key_reports_its_line(
    file: str, old: str, new: str, at: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _home(tmp_path, monkeypatch, _changed(file, old, new))
    _, problems = load_home(".")
    expected = ("YAML002", Location(file, line(files[file], at)))
    if file == "registry.yaml":  # without its labels, 授权共享 and 非共享 mean nothing
        assert expected in _shape(problems) and {p.code for p in problems} == {"YAML002", "YAML003"}
    else:
        assert _shape(problems) == [expected]
    assert at.rstrip(":") in problems[0].message or file == "registry.yaml"


@pytest.mark.parametrize(
    ("file", "old", "new", "at"),
    [
        ("elements.yaml", "    required: true\n", "    required: 也许\n", "required: 也许"),
        ("elements.yaml", "      min: 0\n", "      min: 零\n", "min: 零"),
        ("elements.yaml", "      length: 9\n", "      length: 0\n", "length: 0"),
        ("elements.yaml", "    type: currency\n", "    type: 文本型\n", "type: 文本型"),
        ("elements.yaml", "    security: 核心\n", "    security: 绝密\n", "security: 绝密"),
        ("elements.yaml", "    synonyms: [社会信用代码]\n", "    synonyms: 社会信用代码\n", "synonyms:"),
        ("datasets.yaml", "key: [uscc]", "key: {uscc: 1}", "key: {uscc: 1}"),
        ("agreements.yaml", "valid_from: 2025-01-15", "valid_from: 2025-02-30", "valid_from:"),
        ("services.yaml", "    department: health\n", "    department: [health, market]\n", "department:"),
        (
            "departments.yaml",
            "    stewards:\n      - name: 张伟\n        email: zhangwei@example.gov.cn\n",
            "    stewards: 张伟\n",
            "stewards:",
        ),
        ("views.yaml", "views:\n  - code:", "views:\n    code:", "views:"),  # a section that is a mapping
        # an entry that is not a mapping
        ("codelists.yaml", "codelists:\n", "codelists:\n  - 企业类型代码\n", "- 企业类型代码"),
    ],
    ids=[
        "bool",
        "number",
        "too-small",
        "vocabulary",
        "security",
        "list",
        "tuple",
        "date",
        "text",
        "stewards",
        "section",
        "entry",
    ],
)
def test_wrong_type_reports_its_line(
    file: str, old: str, new: str, at: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _home(tmp_path, monkeypatch, _changed(file, old, new))
    _, problems = load_home(".")
    assert ("YAML003", Location(file, line(files[file], at))) in _shape(problems)
    assert {p.code for p in problems} <= {"YAML003", "YAML002"}


@pytest.mark.parametrize(
    ("file", "old", "new", "at"),
    [
        ("elements.yaml", "    owner: health\n", "", "- code: death_cause"),
        ("datasets.yaml", "        element: death_cause\n", "", "- name: SWYY"),
        (
            "datasets.yaml",
            "    columns:\n      - name: SWYY\n        element: death_cause\n",
            "    columns: []\n",
            "columns: []",
        ),
        ("agreements.yaml", "    purpose: 医疗", "    note: 医疗", "- code: agr_health_market"),
    ],
    ids=["owner", "column-element", "no-columns", "purpose"],
)
def test_missing_field_reports_the_entry(
    file: str, old: str, new: str, at: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _home(tmp_path, monkeypatch, _changed(file, old, new))
    _, problems = load_home(".")
    assert ("YAML003", Location(file, line(files[file], at))) in _shape(problems)


@pytest.mark.parametrize(
    ("file", "old", "new", "at"),
    [
        (
            "datasets.yaml",
            "        element: death_cause\n",
            "        element: death_cause\n        element: 死因\n",
            "element: 死因",
        ),
        ("views.yaml", "    owner: market\n", "    owner: market\n    owner: city\n", "owner: city"),
        ("services.yaml", "", "services: []\n", "services: []"),
        ("registry.yaml", '  division: "500000"\n', '  division: "500000"\n  division: "500103"\n', "500103"),
    ],
    ids=["column", "view", "section", "settings"],
)
def test_duplicate_key_reports_the_second(
    file: str, old: str, new: str, at: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = str(BASE[file]) + new if not old else edit(str(BASE[file]), old, new)
    files = _home(tmp_path, monkeypatch, {file: text})
    _, problems = load_home(".")
    expected = ("YAML004", Location(file, line(files[file], at)))
    assert expected in _shape(problems)
    assert "duplicate key" in problems[0].message or file == "registry.yaml"
    if file != "registry.yaml":
        assert _shape(problems) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "- code: uscc\n  name: 统一社会信用代码\n",
        "统一社会信用代码\n",
    ],
    ids=["list", "scalar"],
)
def test_a_file_must_be_a_mapping(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch, {"extra.yaml": text})
    _, problems = load_home(".")
    assert _shape(problems) == [("YAML003", Location("extra.yaml", 1))]


@pytest.mark.parametrize(
    "text", ["", "# 暂无声明\n", "\ufeffelements: []\n"], ids=["empty", "comment", "bom"]
)
def test_empty_and_bom_files_are_fine(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch, {"extra.yaml": text})
    assert load_home(".")[1] == []


def test_gbk_file_is_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch, {"elements.yaml": str(BASE["elements.yaml"]).encode("gbk")})
    registry, problems = load_home(".")
    assert _shape(problems) == [("YAML005", Location("elements.yaml", 0))]
    assert str(problems[0].location) == "elements.yaml"
    assert "UTF-8" in str(problems[0])
    assert registry.elements == {} and len(registry.datasets) == 3


def test_home_that_is_not_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("home.yaml").write_text("elements: []\n", encoding="utf-8")
    for home in ("home.yaml", "missing"):
        registry, problems = load_home(home)
        assert _shape(problems) == [("YAML005", Location(home, 0))]
        assert registry.count() == 0


# --- everything at once --------------------------------------------------------------------------


def test_every_problem_is_collected_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _home(
        tmp_path,
        monkeypatch,
        {
            **_changed("services.yaml", "    name: 医疗机构执业登记\n", "    name: 医疗机构执业登记: 许可\n"),
            **_changed("views.yaml", "    owner: market\n", "    owner: market\n    owner: city\n"),
            "indicators.yaml": "indicator:\n  - code: enterprise_count\n",
        },
    )
    _, problems = load_home(".")
    assert _shape(problems) == [
        ("YAML001", Location("services.yaml", line(files["services.yaml"], "执业登记: 许可"))),
        ("YAML002", Location("indicators.yaml", 1)),
        ("YAML004", Location("views.yaml", line(files["views.yaml"], "owner: city"))),
    ]


def _open_ended(files: dict[str, str | bytes | None]) -> dict[str, str | bytes | None]:
    """load_valid_home checks against the real today: drop the agreement's end date."""
    return {**files, **_changed("agreements.yaml", "    valid_to: 2027-01-14\n", "")}


def test_load_valid_home_raises_with_every_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _home(
        tmp_path,
        monkeypatch,
        _open_ended(
            {
                **_changed(
                    "services.yaml", "    name: 医疗机构执业登记\n", "    name: 医疗机构执业登记: 许可\n"
                ),
                **_changed("departments.yaml", "uscc: 11500226MB1D37341C", "uscc: 11500226MB1D37341D"),
                **_changed("datasets.yaml", "security: sensitive", "security: internal"),
            }
        ),
    )
    with pytest.raises(DeclarationError) as caught:
        load_valid_home(".")
    errors = [(p.code, p.location) for p in caught.value.errors]
    assert errors == [
        ("GOV017", Location("datasets.yaml", line(files["datasets.yaml"], "- code: market_entity"))),
        ("GOV028", Location("departments.yaml", line(files["departments.yaml"], "- code: market"))),
        ("YAML001", Location("services.yaml", line(files["services.yaml"], "执业登记: 许可"))),
    ]
    text = str(caught.value)
    assert text.startswith("3 error(s) in the registry home:")
    for code, location in errors:
        assert f"{location}: {code} " in text


def test_load_valid_home_returns_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _home(
        tmp_path,
        monkeypatch,
        _open_ended(
            _changed(
                "elements.yaml",
                "    sharing: unconditional\n    status: standard\n",
                "    sharing: unconditional\n    status: 候选\n",
            )
        ),
    )
    registry, warnings = load_valid_home(".")
    assert registry.count() == 18
    ent_name = line(files["elements.yaml"], "- code: ent_name")
    assert _shape(warnings) == [("GOV027", Location("elements.yaml", ent_name))]
    assert not warnings[0].is_error
