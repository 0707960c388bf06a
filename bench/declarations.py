"""Benchmark: load, validate and plan a large generated registry home.

Writes a home of 100 departments, 20,000 elements and 2,000 datasets (10 columns each), then
times, in the same run and on the same files:

* baseline — a plain ``yaml.load(..., Loader=CSafeLoader)`` of every file;
* govreg — ``load_home`` + ``check_rules`` + ``plan`` (against an empty store, and against a
  store that already holds the registry).

and prints each govreg time as a ratio to the baseline. Target: at most 3.

    python bench/declarations.py [--departments 100 --elements 20000 --datasets 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry.load import iter_yaml_files, load_home
from registry.rules import check_rules
from registry.store import Store
from registry.store.apply import apply_registry, plan_registry

LEVELS = ["public", "internal", "sensitive", "core"]
CYCLES = ["daily", "weekly", "monthly", "quarterly", "yearly", "irregular"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
WORDS = ["登记", "许可", "备案", "缴纳", "参保", "处罚", "审批", "核验", "变更", "注销"]


def write_home(root: Path, departments: int, elements: int, datasets: int, seed: int = 7) -> None:
    """A synthetic registry home with the shape (not the content) of a real city's."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "registry.yaml").write_text(
        "registry:\n  name: 基准市\n  name_en: Bench City\n  center: dept_000\n", "utf-8"
    )
    depts = [f"dept_{i:03d}" for i in range(departments)]
    lines = ["departments:"]
    for i, code in enumerate(depts):
        lines += [
            f"  - code: {code}",
            f"    name: 第{i}委办局",
            f"    name_en: Bureau {i}",
            f"    team: team:{code}",
            "    stewards:",
            f"      - {{name: {SURNAMES[i % len(SURNAMES)]}数据, email: steward{i}@city.gov.cn}}",
        ]
        if i:
            lines.append("    parent: dept_000")
    (root / "departments.yaml").write_text("\n".join(lines) + "\n", "utf-8")

    per_dept = elements // departments
    owner_of: dict[str, str] = {}
    (root / "elements").mkdir(exist_ok=True)
    for d, dept in enumerate(depts):
        lines = ["elements:"]
        for j in range(per_dept):
            n = d * per_dept + j
            code = f"el_{n:05d}"
            owner_of[code] = dept
            level = LEVELS[rng.randrange(4)]
            sharing = rng.choice(["unconditional", "unconditional", "conditional"])
            lines += [
                f"  - code: {code}",
                f"    id: DE{n:05d}",
                f"    name: 数据项{n}{WORDS[n % len(WORDS)]}",
                f"    name_en: Data item {n}",
                f"    synonyms: [项{n}, item{n}]",
                f"    definition: 第{d}委办局在{WORDS[n % len(WORDS)]}业务中采集的第{j}个信息项。",
                f"    type: {'string' if n % 3 else 'integer'}",
                f"    domain: {{{'max_length: 64' if n % 3 else 'min: 0, max: 1000000'}}}",
                f"    owner: {dept}",
                f"    security: {level}",
                f"    sharing: {sharing}",
            ]
            if sharing == "conditional":
                lines.append("    sharing_condition: 仅用于政务服务办理")
            lines += [
                f"    update_cycle: {CYCLES[n % len(CYCLES)]}",
                "    status: standard",
                f"    required: {'true' if n % 5 == 0 else 'false'}",
            ]
        (root / "elements" / f"{dept}.yaml").write_text("\n".join(lines) + "\n", "utf-8")

    codes = list(owner_of)
    per_dept_ds = datasets // departments
    (root / "datasets").mkdir(exist_ok=True)
    cursor = 0
    for d, dept in enumerate(depts):
        lines = ["datasets:"]
        for j in range(per_dept_ds):
            n = d * per_dept_ds + j
            lines += [
                f"  - code: ds_{n:04d}",
                f"    catalog_code: 50000{d:03d}/{j:04d}",
                f"    name: 业务数据集{n}",
                f"    name_en: Business dataset {n}",
                f"    provider: {dept}",
                f"    classification: {'departmental' if n % 4 else 'thematic'}",
                f"    summary: 第{d}委办局的第{j}个信息资源",
                f"    format: {['csv', 'parquet', 'excel'][n % 3]}",
                f"    encoding: {'gbk' if n % 2 else 'utf-8'}",
                f"    update_cycle: {CYCLES[n % len(CYCLES)]}",
                f"    key: [c{n}_0]",
                "    columns:",
            ]
            for k in range(10):  # own elements only: no duplicate collections in the bench home
                element = codes[(d * per_dept + (cursor + k) % per_dept)]
                lines.append(f"      - {{name: c{n}_{k}, element: {element}}}")
            cursor += 10
        (root / "datasets" / f"{dept}.yaml").write_text("\n".join(lines) + "\n", "utf-8")


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--departments", type=int, default=100)
    parser.add_argument("--elements", type=int, default=20_000)
    parser.add_argument("--datasets", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        write_home(home, args.departments, args.elements, args.datasets)
        files = list(iter_yaml_files(home))

        def baseline() -> None:
            for path in files:
                yaml.load(path.read_text("utf-8"), Loader=loader)

        empty = Store(f"sqlite:///{tmp}/empty.db")
        full = Store(f"sqlite:///{tmp}/full.db")
        registry, problems = load_home(home)
        problems += check_rules(registry)
        errors = [p for p in problems if p.is_error]
        if errors:
            raise SystemExit(f"the generated home has errors: {errors[:3]}")
        apply_registry(full, registry, actor="bench", reason="bench", source=str(home))
        counts = {s: len(e) for s, e in registry.sections()}

        def govreg(store: Store) -> Callable[[], object]:
            def run() -> object:
                reg, found = load_home(home)
                found += check_rules(reg)
                return plan_registry(store, reg)

            return run

        base = best_of(args.repeat, baseline)
        t_empty = best_of(args.repeat, govreg(empty))
        t_full = best_of(args.repeat, govreg(full))
        assert plan_registry(full, registry).is_empty
        planned = {
            "empty_store": plan_registry(empty, registry).counts(),
            "full_store": plan_registry(full, registry).counts(),
        }

    figures = {
        "files": len(files),
        "departments": counts["departments"],
        "elements": counts["elements"],
        "datasets": counts["datasets"],
        "yaml_safe_load_s": round(base, 3),
        "govreg_plan_empty_store_s": round(t_empty, 3),
        "govreg_plan_full_store_s": round(t_full, 3),
        "ratio_empty_store": round(t_empty / base, 2),
        "ratio_full_store": round(t_full / base, 2),
        "plan_empty_store": planned["empty_store"],
        "plan_full_store": planned["full_store"],
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"registry: {counts['departments']} departments, {counts['elements']} elements, "
            f"{counts['datasets']} datasets in {len(files)} files (loader: {loader.__name__})"
        )
        print(f"baseline yaml.load (C loader):           {base:8.3f} s")
        print(f"govreg load+validate+plan, empty store:  {t_empty:8.3f} s   ratio {t_empty / base:5.2f}")
        print(f"govreg load+validate+plan, same registry: {t_full:7.3f} s   ratio {t_full / base:5.2f}")
        print("target: ratio at most 3")
    return figures


if __name__ == "__main__":
    main()
