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
    path = tmp_path / "s.sqlite"
    Store(path).save_variant("kept", get_preset("googlenet"))
    monkeypatch.setattr(Store, "busy_timeout", 0.2)
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
    path = tmp_path / "s.sqlite"
    Store(path).save_variant("kept", get_preset("googlenet"))
    monkeypatch.setattr(Store, "open_mode", "ro")
    store = Store(path)  # opening a read-only store works ...
    assert store.variant_names() == ["kept"]  # ... and so does reading
    with pytest.raises(StoreError, match="read-only; nothing was changed"):
        store.save_variant("new", get_preset("inception_v3"))


def test_a_store_that_cannot_be_created_is_a_clear_message(tmp_path):
    (tmp_path / "file").write_text("a file where a folder should be")
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(tmp_path / "file" / "store.sqlite")


def test_no_user_input_is_ever_unpickled_or_evaluated():
    """Security: nothing in the package or the pages deserialises with pickle / torch.load or runs eval / exec."""
    import io
    import re
    import tokenize

    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in [*(root / "inception_explorer").rglob("*.py"), *(root / "pages").glob("*.py"), root / "app.py"]:
        # the code only: strings and comments may say "never a pickle" (the weights upload does)
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        lines: dict[int, str] = {}
        text_tokens = (tokenize.STRING, tokenize.COMMENT, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING))
        for tok in tokens:
            if tok.type not in text_tokens:
                lines[tok.start[0]] = lines.get(tok.start[0], "") + tok.string
        for n, line in lines.items():
            if re.search(r"\b(pickle|marshal|shelve|torch\.load|eval\(|exec\(|__import__|yaml\.load)\b", line):
                offenders.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert not offenders, offenders
    # the scan itself still sees code
    planted = "import pickle\nx = torch.load(f)\n"
    seen = [t.string for t in tokenize.generate_tokens(io.StringIO(planted).readline) if t.type == tokenize.NAME]
    assert "pickle" in seen and "load" in seen


def test_workspaces_do_not_see_each_others_variants(tmp_path):
    from inception_explorer.store import is_workspace_id

    store = Store(tmp_path / "s.sqlite")
    alice, bob = store.new_workspace(), store.new_workspace()
    assert alice != bob and is_workspace_id(alice) and not is_workspace_id("short") and not is_workspace_id("../x" * 8)
    assert not is_workspace_id("a" * 16 + "\n")  # a trailing newline is not part of an id
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


# ---- workspaces are minted by the server --------------------------------------------------------------------------


def test_only_minted_workspaces_exist_and_they_survive_a_restart(tmp_path):
    from inception_explorer.store import new_workspace_id

    path = tmp_path / "s.sqlite"
    minted = Store(path).new_workspace()
    again = Store(path)  # a server restart
    assert again.has_workspace(minted) and again.has_workspace("")  # '' is the CLI's own workspace
    chosen = "a" * 16  # well formed, but chosen by a client
    assert not again.has_workspace(chosen) and not again.has_workspace("../../etc/passwd")
    with pytest.raises(ValueError, match="not made by this server"):
        again.save_variant("mine", get_preset("googlenet"), chosen)
    with pytest.raises(ValueError, match="not made by this server"):
        again.publish("mine", get_preset("googlenet"), chosen)
    assert again.variant_names(chosen) == []
    own = new_workspace_id()  # an id the server made itself while the store could not record it
    assert again.new_workspace(own) == own and again.has_workspace(own)
    with pytest.raises(ValueError, match="workspace id"):
        again.new_workspace("short")


def test_an_older_store_keeps_the_workspaces_it_already_has(tmp_path):
    """A store from before minting: its variants' workspaces were handed out by the server of the time."""
    path = tmp_path / "old.sqlite"
    old = "old-workspace-from-before-0001"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE variants (workspace TEXT NOT NULL DEFAULT '', name TEXT NOT NULL, spec_json TEXT NOT NULL, "
            "created REAL NOT NULL, updated REAL NOT NULL, PRIMARY KEY (workspace, name))"
        )
        db.execute(
            "CREATE TABLE published (token TEXT PRIMARY KEY, name TEXT NOT NULL, spec_json TEXT NOT NULL, "
            "created REAL NOT NULL)"
        )
        db.execute("INSERT INTO variants VALUES (?, 'v', ?, 1, 2)", (old, get_preset("googlenet").canonical_json()))
        db.execute("INSERT INTO published VALUES ('tok', 'p', ?, 1)", (get_preset("googlenet").canonical_json(),))
    store = Store(path)
    assert store.has_workspace(old) and store.variant_names(old) == ["v"]
    assert store.load_published("tok").name == "p"  # published copies gained a workspace column, kept their rows


def test_a_workspace_keeps_at_most_the_settings_number_of_variants_and_published_copies(tmp_path, monkeypatch):
    from inception_explorer import settings

    monkeypatch.setenv(settings.MAX_VARIANTS_PER_WORKSPACE, "2")
    monkeypatch.setenv(settings.MAX_PUBLISHED_PER_WORKSPACE, "1")
    store = Store(tmp_path / "s.sqlite")
    ws, other = store.new_workspace(), store.new_workspace()
    store.save_variant("a", get_preset("googlenet"), ws)
    store.save_variant("b", get_preset("googlenet"), ws)
    with pytest.raises(ValueError, match=r"already keeps 2 variants, the most one may .*MAX_VARIANTS_PER_WORKSPACE"):
        store.save_variant("c", get_preset("googlenet"), ws)
    store.save_variant("a", get_preset("inception_v3"), ws)  # saving over one is still fine
    store.save_variant("c", get_preset("googlenet"), other)  # and another workspace has its own allowance
    assert sorted(store.variant_names(ws)) == ["a", "b"]
    store.publish("p", get_preset("googlenet"), ws)
    with pytest.raises(ValueError, match=r"already published 1 read-only copies.*MAX_PUBLISHED_PER_WORKSPACE"):
        store.publish("q", get_preset("googlenet"), ws)
    store.publish("q", get_preset("googlenet"), other)


# ---- names ---------------------------------------------------------------------------------------------------------

BIDI = [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
]


@pytest.mark.parametrize("ch", BIDI, ids=[f"U+{ord(c):04X}" for c in BIDI])
def test_bidi_controls_are_refused_in_variant_published_and_spec_names(tmp_path, ch):
    from inception_explorer.spec import check_name
    from inception_explorer.store import BIDI_CONTROLS

    assert ch in BIDI_CONTROLS
    store = Store(tmp_path / "s.sqlite")
    name = f"exam{ch}txt.exe"
    with pytest.raises(ValueError, match=rf"bidirectional control characters \(U\+{ord(ch):04X}\)"):
        store.save_variant(name, get_preset("googlenet"))
    with pytest.raises(ValueError, match="bidirectional control characters"):
        store.publish(name, get_preset("googlenet"))
    with pytest.raises(
        ValueError, match=rf"block name may not contain bidirectional control characters \(U\+{ord(ch):04X}"
    ):
        check_name(f"inc{ch}4a", "block name")
    assert store.variant_names() == []


def test_a_ten_kilobyte_name_is_refused_with_a_short_message(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(ValueError, match="1-64 printable characters") as refused:
        store.save_variant("x" * 10_000, get_preset("googlenet"))
    assert len(str(refused.value)) < 200
    with pytest.raises(KeyError) as missing:
        store.load_variant("y" * 10_000)
    assert len(str(missing.value)) < 200


def test_a_spec_name_with_a_trailing_newline_is_not_an_identifier():
    from inception_explorer.spec import check_name

    assert check_name("inception4a", "block name") == "inception4a"
    with pytest.raises(ValueError, match="Python-style identifier"):
        check_name("inception4a\n", "block name")


def test_a_workspaces_unsaved_draft_is_kept_replaced_and_private(tmp_path):
    from inception_explorer.spec import MAX_SPEC_BYTES
    from inception_explorer.store import DraftRecord

    store = Store(tmp_path / "s.sqlite")
    alice, bob = store.new_workspace(), store.new_workspace()
    valid = get_preset("googlenet").canonical_json()
    first = DraftRecord('{"name": "half-edited"}', valid, "preset", "googlenet")
    store.save_draft(alice, first)
    assert Store(tmp_path / "s.sqlite").load_draft(alice) == first  # a new Store on the file: a server restart
    assert store.load_draft(bob) is None
    second = DraftRecord(valid, valid, "variant", "narrow 4c")
    store.save_draft(alice, second)
    assert store.load_draft(alice) == second  # one per workspace, the last kept
    assert store.query("SELECT COUNT(*) FROM drafts") == [(1,)]
    with pytest.raises(ValueError, match="not made by this server"):
        store.save_draft("a-client-chosen-id-000", first)
    with pytest.raises(ValueError, match="at most"):
        store.save_draft(bob, DraftRecord(" " * (MAX_SPEC_BYTES + 1), valid, "preset", "googlenet"))
    assert store.load_draft(bob) is None
