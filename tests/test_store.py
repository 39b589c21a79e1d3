"""store.py: saved variants live on disk and survive a new connection (a server restart)."""

import sqlite3

import pytest

from inception_explorer.errors import SpecError
from inception_explorer.presets import get_preset
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
        db.execute("INSERT INTO variants VALUES ('bad', '{\"name\": 1}', 0, 0)")
    with pytest.raises(SpecError):
        Store(path).load_variant("bad")


def test_a_file_that_is_not_a_database_is_a_clear_store_error(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_text("this is not sqlite " * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(path)
