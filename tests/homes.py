"""A small, valid registry home written as YAML text, for the loader and rule tests.

Tests copy :data:`BASE`, break one thing with :func:`edit`, write it with :func:`write_home` and
find the line they expect a problem at with :func:`line` (the unique line holding a needle).
Load it with the working directory set to the home, so locations read ``elements.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

from registry.errors import Problem
from registry.home import Registry
from registry.load import load_home
from registry.rules import check_rules

TODAY = date(2026, 1, 1)

REGISTRY = """\
registry:
  name: 重庆市政务数据资源目录
  name_en: Chongqing government data registry
  division: "500000"
  sharing_labels:
    授权共享: conditional
    非共享: not_shared
"""

DEPARTMENTS = """\
departments:
  - code: city
    name: 重庆市人民政府
    name_en: Chongqing Municipal People's Government
    short_name: 市政府
  - code: market
    name: 重庆市市场监督管理局
    name_en: Chongqing Administration for Market Regulation
    short_name: 市市场监管局
    parent: city
    uscc: 11500226MB1D37341C
    stewards:
      - name: 张伟
        email: zhangwei@example.gov.cn
  - code: health
    name: 重庆市卫生健康委员会
    name_en: Chongqing Health Commission
    parent: city
  - code: civil
    name: 重庆市民政局
    name_en: Chongqing Civil Affairs Bureau
    parent: city
"""

CODELISTS = """\
codelists:
  - code: ent_type_list
    name: 企业类型代码
    name_en: Enterprise type codes
    source: GB/T 12402
    values:
      - value: "1100"
        label: 有限责任公司
        label_en: Limited liability company
      - value: "1200"
        label: 股份有限公司
        label_en: Joint-stock company
"""

ELEMENTS = """\
elements:
  - code: uscc
    id: DE00001
    name: 统一社会信用代码
    name_en: Unified social credit code
    synonyms: [社会信用代码]
    definition: 按照 GB 32100 赋予法人和其他组织的唯一身份识别代码
    type: 字符型
    domain:
      length: 18
      check_digit: gb32100
    required: true
    owner: market
    security: 公开
    sharing: 无条件共享
    open: 无条件开放
    update_cycle: 实时
    status: 标准
  - code: org_code
    name: 组织机构代码
    name_en: Organisation code
    type: c
    domain:
      length: 9
      check_digit: gb11714
    owner: market
    status: 被替代
    replaced_by: uscc
  - code: ent_name
    name: 企业名称
    name_en: Enterprise name
    domain:
      max_length: 200
    owner: market
    sharing: unconditional
    status: standard
  - code: ent_type
    name: 企业类型
    name_en: Enterprise type
    domain:
      code_list: ent_type_list
    owner: market
    status: standard
  - code: legal_rep_id
    name: 法定代表人身份证件号码
    name_en: Legal representative ID number
    domain:
      length: 18
      check_digit: gb11643
    owner: market
    security: 敏感
    personal: 敏感个人信息
    personal_category: 特定身份
    sharing: 授权共享
    sharing_condition: 仅限卫生健康部门办理医疗机构执业登记时核验使用
    status: 合格
  - code: reg_capital
    name: 注册资本
    name_en: Registered capital
    type: currency
    unit: 万元
    domain:
      min: 0
    owner: market
    status: standard
  - code: death_cause
    name: 死亡原因
    name_en: Cause of death
    owner: health
    security: 核心
    personal: sensitive_personal
    personal_category: 医疗健康
    sharing: 不予共享
    legal_basis: 《中华人民共和国个人信息保护法》第二十八条
    status: standard
"""

DATASETS = """\
datasets:
  - code: market_entity
    name: 市场主体登记信息
    name_en: Market entity registration
    catalog_code: "101001"
    classification: 基础
    provider: market
    summary: 全市市场主体登记基本信息
    key: [uscc]
    security: sensitive
    sharing: conditional
    sharing_condition: 敏感信息项仅按共享协议提供
    update_cycle: 每日
    columns:
      - name: TYSHXYDM
        element: uscc
        basic: true
      - name: QYMC
        element: ent_name
        basic: true
      - name: QYLX
        element: ent_type
      - name: FDDBRZJHM
        element: legal_rep_id
      - name: ZCZB
        element: reg_capital
  - code: medical_institution
    name: 医疗机构执业登记信息
    name_en: Medical institution licensing
    provider: health
    key: [JGTYSHXYDM]
    related: [market_entity]
    columns:
      - name: JGTYSHXYDM
        element: uscc
        replica: agr_health_market
      - name: FDDBRSFZH
        element: legal_rep_id
        replica: agr_health_market
  - code: death_registry
    name: 死亡医学证明信息
    name_en: Medical death certificates
    provider: health
    sharing: 非共享
    legal_basis: 《中华人民共和国个人信息保护法》第二十八条
    columns:
      - name: SWYY
        element: death_cause
"""

AGREEMENTS = """\
agreements:
  - code: agr_health_market
    name: 医疗机构执业登记核验市场主体信息
    consumer: health
    provider: market
    elements:
      - uscc
      - legal_rep_id
    purpose: 医疗机构执业登记时核验举办单位及其法定代表人身份
    legal_basis: 《医疗机构管理条例》
    method: interface
    approver: 重庆市大数据应用发展管理局
    approved_on: 2025-01-10
    valid_from: 2025-01-15
    valid_to: 2027-01-14
    status: 已批准
"""

SERVICES = """\
services:
  - code: medical_license
    name: 医疗机构执业登记
    name_en: Medical institution practice registration
    department: health
    elements:
      - element: uscc
        source: 共享
      - element: legal_rep_id
        source: sharing
        agreement: agr_health_market
"""

VIEWS = """\
views:
  - code: capital_by_type
    name: 各类型市场主体注册资本汇总
    name_en: Registered capital by enterprise type
    owner: market
    sql: sql/capital_by_type.sql
"""

SQL = """\
select ent_type, sum(reg_capital) as reg_capital
from market_entity
group by ent_type
"""

BASE: dict[str, str | bytes] = {
    "registry.yaml": REGISTRY,
    "departments.yaml": DEPARTMENTS,
    "codelists.yaml": CODELISTS,
    "elements.yaml": ELEMENTS,
    "datasets.yaml": DATASETS,
    "agreements.yaml": AGREEMENTS,
    "services.yaml": SERVICES,
    "views.yaml": VIEWS,
    "sql/capital_by_type.sql": SQL,
}


def edit(text: str, old: str, new: str) -> str:
    """Replace the one occurrence of ``old``; a test that misses its target fails loudly."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line(text: str | bytes, needle: str) -> int:
    """The 1-based number of the one line of ``text`` that holds ``needle``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    found = [n for n, row in enumerate(text.splitlines(), 1) if needle in row]
    assert len(found) == 1, f"{needle!r} is on lines {found}"
    return found[0]


def write_home(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write ``files`` (relative path → text, or bytes written as they are) below ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def load_and_check(home: Path) -> tuple[Registry, list[Problem]]:
    """Load a home and run the governance rules on the fixed day: every problem, shape and rules."""
    registry, problems = load_home(home)
    return registry, problems + check_rules(registry, today=TODAY)
