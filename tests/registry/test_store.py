"""The metadata store: plan, apply, idempotence, rollback, the audit chain and migrations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, update

from registry.load import load_valid_home
from registry.store import Store
from registry.store.apply import apply_registry, plan_registry
from registry.store.audit import query_events, verify_chain
from registry.store.rows import registry_from_specs
from registry.store.schema import audit_events, dataset_columns, elements, metadata
from tests.support.backends import BACKENDS, UrlFactory, urls
from tests.support.city_home import BASE, write_home


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UrlFactory]:
    """Fresh store URLs on SQLite, then on PostgreSQL (every test that uses it runs on both)."""
    yield from urls(request.param, tmp_path)


@pytest.fixture()
def store(store_url: UrlFactory) -> Store:
    return Store(store_url())


def apply(store: Store, home: Path, reason: str = "test") -> object:
    registry, _ = load_valid_home(home)
    return apply_registry(store, registry, actor="tester", reason=reason, source=str(home))


def test_first_apply_creates_everything_with_one_event_each(tmp_path: Path, store: Store) -> None:
    home = write_home(tmp_path / "home")
    registry, _ = load_valid_home(home)
    plan = plan_registry(store, registry)
    # settings + 2 departments + 3 elements + 2 datasets
    assert plan.counts() == {"create": 8, "update": 0, "delete": 0}
    # departments are created before the elements they own
    kinds = [c.kind for c in plan.changes]
    assert kinds.index("department") < kinds.index("element") < kinds.index("dataset")
    result = apply_registry(store, registry, actor="tester", reason="first", source=str(home))
    assert result.events == 8
    with store.read() as conn:
        events = list(query_events(conn, newest_first=False))
        assert [e["seq"] for e in events] == list(range(1, 9))
        assert {e["actor"] for e in events} == {"tester"}
        assert {e["reason"] for e in events} == {"first"}
        assert all(e["before"] is None and e["after"] for e in events)
        cols = conn.execute(
            select(dataset_columns.c.name, dataset_columns.c.is_key)
            .where(dataset_columns.c.dataset == "enterprise_registration")
            .order_by(dataset_columns.c.position)
        ).all()
        assert [tuple(c) for c in cols] == [("tyshxydm", True), ("qymc", False)]


def test_applying_twice_changes_nothing_and_writes_no_events(tmp_path: Path, store: Store) -> None:
    home = write_home(tmp_path / "home")
    apply(store, home)
    before = store.dump()
    registry, _ = load_valid_home(home)
    assert plan_registry(store, registry).is_empty
    result = apply_registry(store, registry, actor="tester", reason="again", source=str(home))
    assert result.events == 0 and result.change_id is None
    assert store.dump() == before


def test_update_and_delete_are_planned_with_before_and_after(tmp_path: Path, store: Store) -> None:
    home = write_home(tmp_path / "home")
    apply(store, home)
    changed = BASE.replace("    security: sensitive\n", "    security: core\n")
    changed = changed[: changed.index("  - code: tax_payment")]  # drop the tax dataset
    write_home(home, changed)
    registry, _ = load_valid_home(home)
    plan = plan_registry(store, registry)
    summary = {(c.action, c.kind, c.code): c for c in plan.changes}
    assert set(summary) == {("update", "element", "tax_amount"), ("delete", "dataset", "tax_payment")}
    update_change = summary[("update", "element", "tax_amount")]
    assert update_change.fields == ("security",)
    assert update_change.to_json()["fields"]["security"] == {"before": "sensitive", "after": "core"}
    apply_registry(store, registry, actor="tester", reason="raise level", source=str(home))
    with store.read() as conn:
        level = conn.execute(select(elements.c.security).where(elements.c.code == "tax_amount")).scalar_one()
        assert level == "core"
        last = list(query_events(conn, limit=2))
    assert {(e["action"], e["entity_code"]) for e in last} == {
        ("update", "tax_amount"),
        ("delete", "tax_payment"),
    }
    deleted = next(e for e in last if e["action"] == "delete")
    assert deleted["after"] is None and json.loads(deleted["before"])["code"] == "tax_payment"


def test_raising_an_element_level_shows_on_the_datasets_that_hold_it(tmp_path: Path, store: Store) -> None:
    home = write_home(tmp_path / "home")
    apply(store, home)
    write_home(
        home,
        BASE.replace(
            "    owner: market\n    status: standard\n    domain",
            "    owner: market\n    status: standard\n    security: core\n    domain",
        ),
    )
    registry, _ = load_valid_home(home)
    plan = plan_registry(store, registry)
    dataset_change = next(c for c in plan.changes if c.code == "enterprise_registration")
    assert dataset_change.fields == ("derived",)
    assert dataset_change.after_spec["derived"]["security"] == "core"  # type: ignore[index]


@pytest.mark.parametrize("phase", ["entities", "audit"])
def test_failed_apply_leaves_the_store_exactly_as_it_was(tmp_path: Path, store: Store, phase: str) -> None:
    home = write_home(tmp_path / "home")
    apply(store, home)
    before = store.dump()
    write_home(
        home,
        BASE.replace("Tax Bureau", "State Taxation Bureau")
        .replace("  - code: tax_payment", "  - code: tax_payment_2024")
        .replace("Tax payments", "Tax payments 2024"),
    )
    registry, _ = load_valid_home(home)
    assert plan_registry(store, registry).counts()["create"] == 1

    def fail(at: str) -> None:
        if at == phase:
            raise RuntimeError(f"injected failure during {at}")

    with pytest.raises(RuntimeError, match="injected failure"):
        apply_registry(store, registry, actor="tester", reason="doomed", source=str(home), fault=fail)
    assert store.dump() == before
    with store.read() as conn:
        assert verify_chain(conn).ok


def test_a_home_with_errors_is_refused_before_the_store_is_touched(tmp_path: Path, store: Store) -> None:
    from registry.errors import DeclarationError

    home = write_home(tmp_path / "home")
    apply(store, home)
    before = store.dump()
    write_home(home, BASE.replace("element: enterprise_name", "element: enterprise_nam"))
    with pytest.raises(DeclarationError) as info:
        load_valid_home(home)
    assert [p.code for p in info.value.errors] == ["GOV003"]
    assert store.dump() == before


def test_audit_verify_detects_edit_delete_and_truncation(tmp_path: Path, store_url: UrlFactory) -> None:
    home = write_home(tmp_path / "home")
    for tamper in ("edit", "delete_middle", "delete_last", "relink"):
        store = Store(store_url(tamper))
        apply(store, home)
        with store.read() as conn:
            assert verify_chain(conn).ok and verify_chain(conn).events == 8
        with store.write() as conn:
            if tamper == "edit":
                conn.execute(update(audit_events).where(audit_events.c.seq == 3).values(actor="mallory"))
            elif tamper == "delete_middle":
                conn.execute(audit_events.delete().where(audit_events.c.seq == 4))
            elif tamper == "delete_last":
                conn.execute(audit_events.delete().where(audit_events.c.seq == 8))
            else:  # rewrite one event and its hash, but the next event's link gives it away
                conn.execute(
                    update(audit_events)
                    .where(audit_events.c.seq == 2)
                    .values(reason="nothing to see", hash="f" * 64)
                )
        with store.read() as conn:
            report = verify_chain(conn)
        assert not report.ok, tamper
        expected = {
            "edit": "event 3: content",
            "delete_middle": "event 4–4 missing",
            "delete_last": "audit head points at event 8",
            "relink": "event 3: link",
        }[tamper]
        assert any(expected in p for p in report.problems), (tamper, report.problems)


def test_the_store_round_trips_the_registry(tmp_path: Path, store: Store) -> None:
    home = write_home(tmp_path / "home")
    registry, _ = load_valid_home(home)
    apply_registry(store, registry, actor="tester", reason="t", source=str(home))
    rebuilt = registry_from_specs(store.read_specs())
    assert rebuilt.specs() == registry.specs()
    assert rebuilt.settings == registry.settings


def test_migrations_build_exactly_the_declared_schema(tmp_path: Path, store: Store) -> None:
    assert store.schema_version() == "0006"
    store.require_current()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        tables = set(inspect(conn).get_table_names())
    assert set(metadata.tables) <= tables
    # opening again is a no-op upgrade
    again = Store(store.url)
    assert again.schema_version() == "0006"


def test_sqlite_store_is_in_wal_mode(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_concurrent_applies_serialise_and_keep_the_chain(tmp_path: Path, store_url: UrlFactory) -> None:
    """Two processes' worth of applies at once: both commit, one after the other, chain intact."""
    import threading

    url = store_url()
    Store(url)  # create the schema first
    homes = [
        write_home(tmp_path / "a"),
        write_home(tmp_path / "b", BASE.replace("企业名称", "企业名称（全称）")),
    ]
    registries = [load_valid_home(h)[0] for h in homes]
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def run(i: int) -> None:
        store = Store(url)
        barrier.wait()
        results[i] = apply_registry(store, registries[i], actor=f"worker{i}", reason="race", source="t")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(r is not None for r in results)
    events = sorted(r.events for r in results)  # type: ignore[attr-defined]
    assert events == [1, 8]  # the first creates everything, the second changes one element
    store = Store(url)
    with store.read() as conn:
        report = verify_chain(conn)
    assert report.ok and report.events == 9
