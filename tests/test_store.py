"""store.py: saved variants live on disk and survive a new connection (a server restart)."""

import sqlite3
from pathlib import Path

import pytest

from inception_explorer.errors import SpecError
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store, StoreError


def test_variants_survive_a_new_store_on_the_same_file(tmp_path):
    path = tmp_path / "store.sqlite"
    spec = get_preset("googlenet").with_input(192, num_classes=10)
    Store(path).save_variant("my googlenet", spec)
    again = Store(path)  # as after a server restart
    assert again.variant_names() == ["my googlenet"]
    assert again.load_variant("my googlenet").spec == spec


def test_save_overwrites_and_lists_newest_first(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.save_variant("a", get_preset("googlenet"))
    store.save_variant("b", get_preset("inception_v3"))
    first = store.load_variant("a").created
    store.save_variant("a", get_preset("googlenet_naive"))
    assert store.variant_names() == ["a", "b"]
    record = store.load_variant("a")
    assert record.spec.name == "googlenet_naive" and record.created == first and record.updated >= first
    store.delete_variant("a")
    assert store.variant_names() == ["b"]
    with pytest.raises(KeyError, match="no saved variant named 'a'"):
        store.load_variant("a")


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there"])
def test_bad_variant_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="variant name"):
        Store(tmp_path / "s.sqlite").save_variant(name, get_preset("googlenet"))


def test_a_corrupted_row_is_a_spec_error_not_a_crash(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO variants(name, spec_json, created, updated) VALUES ('bad', '{\"name\": 1}', 0, 0)")
    with pytest.raises(SpecError):
        Store(path).load_variant("bad")


def test_a_file_that_is_not_a_database_is_a_clear_store_error(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_text("this is not sqlite " * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(path)


def test_a_locked_store_is_a_clear_message_and_loses_nothing(tmp_path, monkeypatch):
    import inception_explorer.store as store_module

    path = tmp_path / "s.sqlite"
    Store(path).save_variant("kept", get_preset("googlenet"))
    monkeypatch.setattr(store_module.Store, "_connect", lambda self: sqlite3.connect(self.path, timeout=0.2))
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        with pytest.raises(StoreError, match="locked by another process; nothing was changed"):
            Store(path).save_variant("new", get_preset("inception_v3"))
    finally:
        holder.rollback()
        holder.close()
    assert Store(path).variant_names() == ["kept"]
    assert Store(path).load_variant("kept").spec == get_preset("googlenet")


def test_a_read_only_store_is_a_clear_message(tmp_path, monkeypatch):
    """Root ignores file permissions, so the store is opened read-only the way SQLite itself does it."""
    import inception_explorer.store as store_module

    path = tmp_path / "s.sqlite"
    Store(path).save_variant("kept", get_preset("googlenet"))
    monkeypatch.setattr(
        store_module.Store, "_connect", lambda self: sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
    )
    store = Store.__new__(Store)
    store.path = path
    assert store.variant_names() == ["kept"]  # reading still works
    with pytest.raises(StoreError, match="read-only; nothing was changed"):
        store.save_variant("new", get_preset("inception_v3"))


def test_a_store_that_cannot_be_created_is_a_clear_message(tmp_path):
    (tmp_path / "file").write_text("a file where a folder should be")
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(tmp_path / "file" / "store.sqlite")


def test_no_user_input_is_ever_unpickled_or_evaluated():
    """Security: nothing in the package or the pages deserialises with pickle / torch.load or runs eval / exec."""
    import re

    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in [*(root / "inception_explorer").rglob("*.py"), *(root / "pages").glob("*.py"), root / "app.py"]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\b(pickle|marshal|shelve|torch\.load|eval\(|exec\(|__import__|yaml\.load)\b", line):
                offenders.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert not offenders, offenders


def test_workspaces_do_not_see_each_others_variants(tmp_path):
    from inception_explorer.store import is_workspace_id, new_workspace_id

    store = Store(tmp_path / "s.sqlite")
    alice, bob = new_workspace_id(), new_workspace_id()
    assert alice != bob and is_workspace_id(alice) and not is_workspace_id("short") and not is_workspace_id("../x" * 8)
    store.save_variant("mine", get_preset("googlenet"), workspace=alice)
    store.save_variant("mine", get_preset("inception_v3"), workspace=bob)  # the same name, another workspace
    assert store.variant_names(alice) == ["mine"] and store.variant_names(bob) == ["mine"]
    assert store.load_variant("mine", alice).spec.name == "googlenet"
    assert store.load_variant("mine", bob).spec.name == "inception_v3"
    assert store.variant_names() == []  # nor does the default workspace
    with pytest.raises(KeyError):
        store.load_variant("mine")


def test_a_published_variant_is_a_read_only_copy(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    token = store.publish("lab 3 start", get_preset("googlenet"))
    store.publish("lab 3 start", get_preset("inception_v3"))  # publishing again makes another link
    assert store.load_published(token).spec == get_preset("googlenet")
    assert store.load_published(token).name == "lab 3 start"
    with pytest.raises(KeyError, match="no published variant"):
        store.load_published("not-a-token")


def test_a_store_from_before_workspaces_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE variants (name TEXT PRIMARY KEY, spec_json TEXT NOT NULL, created REAL NOT NULL, "
            "updated REAL NOT NULL)"
        )
        db.execute("INSERT INTO variants VALUES (?, ?, 1, 2)", ("old one", get_preset("googlenet").canonical_json()))
    store = Store(path)
    assert store.variant_names() == ["old one"] and store.load_variant("old one").spec == get_preset("googlenet")
