"""The catalog contract, written once and run against SqliteCatalog and DynamoCatalog (on moto)."""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace

import pytest
from ulid import ULID

from momento.catalog.cursor import encode_cursor, encode_date_cursor
from momento.errors import BackendError, BadRequest, Conflict, DuplicateUpload, EmailTaken, NotFound
from momento.models import PHOTO, VIDEO, Upload, User
from tests.backends import backends, build_catalog


def user(n: int = 1, **changes) -> User:
    """An account with a lower-case email, as callers store them."""
    values = dict(id=f"user{n}", email=f"person{n}@example.com", password_hash="pbkdf2:x",
                  created_at="2026-11-01T10:00:00Z")
    return User(**(values | changes))


def upload(user_id: str, i: int, **changes) -> Upload:
    """The i-th upload of a user; ids grow with i, so a higher i is newer."""
    values = dict(user_id=user_id, id=str(ULID.from_timestamp(1_700_000_000 + i)), kind=PHOTO,
                  filename=f"IMG_{i:04}.JPG", mime="image/jpeg", ext="jpg", size=1000 + i,
                  sha256=hashlib.sha256(f"{user_id}/{i}".encode()).hexdigest(), uploaded_at="2026-11-02T10:00:00Z")
    return Upload(**(values | changes))


def ids(page) -> list[str]:
    return [u.id for u in page.items]


# users

@backends
def test_create_and_get_user(catalog):
    alice = catalog.create_user(user(1))
    assert catalog.get_user("user1") == alice == user(1)
    assert catalog.get_user_by_email("person1@example.com") == alice
    assert catalog.get_user_by_email("Person1@Example.COM") == alice
    assert catalog.get_user("user2") is None
    assert catalog.get_user_by_email("nobody@example.com") is None


@backends
def test_email_taken(catalog):
    catalog.create_user(user(1))
    with pytest.raises(EmailTaken):
        catalog.create_user(user(2, email="person1@example.com"))
    assert catalog.get_user("user2") is None
    with pytest.raises(Conflict):  # the same id with another email
        catalog.create_user(user(1, email="other@example.com"))
    assert [u.id for u in catalog.iter_users()] == ["user1"]
    assert catalog.get_user_by_email("other@example.com") is None


@backends
def test_update_user(catalog):
    catalog.create_user(user(1))
    changed = user(1, disabled=True, is_admin=True, quota=5 * 1024**3, password_hash="pbkdf2:y")
    catalog.update_user(changed)
    assert catalog.get_user("user1") == changed
    catalog.update_user(replace(changed, quota=None, disabled=False))
    again = catalog.get_user("user1")
    assert (again.quota, again.disabled, again.is_admin) == (None, False, True)
    with pytest.raises(NotFound):
        catalog.update_user(user(9))


@backends
def test_update_user_keeps_the_email(catalog):
    catalog.create_user(user(1))
    stored = catalog.update_user(user(1, email="changed@example.com", is_admin=True))
    assert stored.email == catalog.get_user("user1").email == "person1@example.com"
    assert catalog.get_user_by_email("person1@example.com").is_admin


@backends
def test_iter_users_by_email(catalog):
    for n, email in ((1, "carol@example.com"), (2, "alice@example.com"), (3, "bob@example.com")):
        catalog.create_user(user(n, email=email))
    assert [u.email for u in catalog.iter_users()] == ["alice@example.com", "bob@example.com", "carol@example.com"]
    assert catalog.get_user("user2") == next(iter(catalog.iter_users()))


# tokens

@backends
def test_tokens(catalog):
    catalog.create_user(user(1))
    catalog.add_token(_token("hash-a", "id-a"))
    catalog.add_token(_token("hash-b", "id-b"))
    assert catalog.get_token("hash-a").user_id == "user1"
    catalog.revoke_token("hash-a")
    assert catalog.get_token("hash-a") is None
    assert catalog.get_token("hash-b").user_id == "user1"
    catalog.revoke_token("hash-a")
    catalog.revoke_token("never-issued")
    assert catalog.get_token("never-issued") is None


@backends
def test_token_hash_reused(catalog):
    catalog.create_user(user(1))
    catalog.add_token(_token("hash-a", "id-a"))
    with pytest.raises(Conflict):
        catalog.add_token(_token("hash-a", "id-b"))


def _token(token_hash: str, token_id: str):
    from momento.models import ApiToken

    return ApiToken(hash=token_hash, id=token_id, user_id="user1", created_at="2026-11-03T00:00:00Z")


# uploads

@backends
def test_upload_round_trips_exactly(catalog):
    full = upload("user1", 1, kind=VIDEO, mime="video/mp4", ext="mp4", width=1920, height=1080,
                  duration=12.345, taken_at="2024-07-01T12:03:11Z", camera_make="Apple", camera_model="",
                  gps={"lat": 48.858370, "lon": 2.294481, "alt": 35.5}, tags=("beach", "family"),
                  auto_tags=("year:2024", "camera:apple"), rendition="pending",
                  extra={"fps": 29.97, "frames": 370, "codec": "h264", "empty": "", "none": None, "flag": False,
                         "nested": {"list": [1, 2.5, "x", True, None], "map": {}}, "big": 2**53 + 1})
    assert catalog.put_upload(full) == full
    got = catalog.get_upload("user1", full.id)
    assert got == full
    assert type(got.duration) is float and type(got.width) is int and type(got.size) is int
    assert type(got.extra["fps"]) is float and type(got.extra["frames"]) is int
    assert all(type(v) is float for v in got.gps.values())
    assert catalog.find_by_sha256("user1", full.sha256) == full
    bare = upload("user1", 2)
    catalog.put_upload(bare)
    assert catalog.get_upload("user1", bare.id) == bare  # None fields, no tags, empty extra
    assert catalog.get_upload("user2", full.id) is None
    assert catalog.find_by_sha256("user2", full.sha256) is None


@backends
def test_duplicate_sha256(catalog):
    first = catalog.put_upload(upload("user1", 1))
    again = upload("user1", 2, sha256=first.sha256)
    with pytest.raises(DuplicateUpload) as caught:
        catalog.put_upload(again)
    assert caught.value.existing_id == first.id
    assert catalog.get_upload("user1", again.id) is None
    other = upload("user2", 2, sha256=first.sha256)
    assert catalog.put_upload(other) == other  # another user's bytes are theirs


@backends
def test_list_newest_first_in_pages(catalog):
    made = [catalog.put_upload(upload("user1", i)) for i in range(7)]
    catalog.put_upload(upload("user2", 99))
    newest_first = [u.id for u in reversed(made)]
    page1 = catalog.list_uploads("user1", limit=3)
    page2 = catalog.list_uploads("user1", limit=3, cursor=page1.next_cursor)
    page3 = catalog.list_uploads("user1", limit=3, cursor=page2.next_cursor)
    assert ids(page1) + ids(page2) + ids(page3) == newest_first
    assert page1.next_cursor and page2.next_cursor and page3.next_cursor is None
    assert page1.items[0] == made[-1]
    assert catalog.list_uploads("user1", limit=7).next_cursor is None
    assert catalog.list_uploads("user1", limit=6).next_cursor is not None
    assert catalog.list_uploads("nobody").items == ()


@backends
def test_list_by_kind(catalog):
    made = [catalog.put_upload(upload("user1", i, kind=VIDEO if i % 4 == 0 else PHOTO)) for i in range(12)]
    videos = [u.id for u in reversed(made) if u.kind == VIDEO]
    seen, cursor = [], None
    while True:  # one item a page, with three photos between videos
        page = catalog.list_uploads("user1", kind=VIDEO, limit=1, cursor=cursor)
        seen += ids(page)
        if not (cursor := page.next_cursor):
            break
    assert seen == videos
    assert len(catalog.list_uploads("user1", kind=PHOTO, limit=50).items) == 9


@backends
def test_trash_is_listed_apart(catalog):
    made = [catalog.put_upload(upload("user1", i)) for i in range(10)]
    trashed = catalog.set_trashed("user1", made[2].id, "2026-11-05T00:00:00Z")
    assert trashed.trashed_at == "2026-11-05T00:00:00Z" and trashed.trashed
    catalog.set_trashed("user1", made[7].id, "2026-11-05T00:00:00Z")
    live = catalog.list_uploads("user1", limit=50)
    assert made[2].id not in ids(live) and len(live.items) == 8
    page = catalog.list_uploads("user1", trashed=True, limit=1)
    assert ids(page) == [made[7].id] and page.next_cursor
    page = catalog.list_uploads("user1", trashed=True, limit=1, cursor=page.next_cursor)
    assert ids(page) == [made[2].id] and page.next_cursor is None
    restored = catalog.set_trashed("user1", made[2].id, None)
    assert restored.trashed_at is None and restored == made[2]
    assert made[2].id in ids(catalog.list_uploads("user1", limit=50))


@backends
def test_an_emptied_upload_keeps_its_trash_date_and_is_purged_whatever_its_age(catalog):
    made = [catalog.put_upload(upload("user1", i)) for i in range(3)]
    for u in made:
        catalog.set_trashed("user1", u.id, "2026-11-05T00:00:00Z")
    emptied = catalog.set_trashed("user1", made[0].id, "2026-11-05T00:00:00Z", emptied_at="2026-11-06T00:00:00Z")
    assert (emptied.trashed_at, emptied.emptied_at) == ("2026-11-05T00:00:00Z", "2026-11-06T00:00:00Z")
    assert catalog.get_upload("user1", made[0].id) == emptied
    before = "2026-10-01T00:00:00Z"  # a purge of what was trashed 30 days before some October day
    assert catalog.begin_purge("user1", made[1].id, before, "2026-11-07T00:00:00Z") is None
    assert catalog.begin_purge("user1", made[0].id, before, "2026-11-07T00:00:00Z").purge_started_at
    restored = catalog.set_trashed("user1", made[2].id, "2026-11-05T00:00:00Z", emptied_at="2026-11-06T00:00:00Z")
    restored = catalog.set_trashed("user1", restored.id, None)  # back from the trash: no longer emptied
    assert restored.emptied_at is None and restored == made[2]
    again = catalog.set_trashed("user1", made[2].id, "2026-11-08T00:00:00Z")
    assert again.emptied_at is None and catalog.begin_purge("user1", made[2].id, before, "x") is None


@backends
def test_set_tags(catalog):
    mine = catalog.put_upload(upload("user1", 1, tags=("old",)))
    tagged = catalog.set_tags("user1", mine.id, ("beach", "sun"))
    assert tagged == mine.evolve(tags=("beach", "sun")) == catalog.get_upload("user1", mine.id)
    assert catalog.set_tags("user1", mine.id, ()).tags == ()


@backends
def test_changes_need_an_upload_of_that_user(catalog):
    theirs = catalog.put_upload(upload("user2", 1))
    missing = upload("user1", 5).id
    for upload_id in (missing, theirs.id):
        with pytest.raises(NotFound):
            catalog.set_tags("user1", upload_id, ("x",))
        with pytest.raises(NotFound):
            catalog.set_trashed("user1", upload_id, "2026-11-05T00:00:00Z")
    assert catalog.get_upload("user2", theirs.id) == theirs
    assert catalog.get_upload("user1", missing) is None


@backends
def test_delete_upload(catalog):
    gone = catalog.put_upload(upload("user1", 1))
    kept = catalog.put_upload(upload("user1", 2))
    catalog.delete_upload("user1", gone.id)
    assert catalog.get_upload("user1", gone.id) is None
    assert catalog.find_by_sha256("user1", gone.sha256) is None
    catalog.delete_upload("user1", gone.id)
    catalog.delete_upload("user2", kept.id)  # not theirs: nothing happens
    assert catalog.get_upload("user1", kept.id) == kept
    again = upload("user1", 3, sha256=gone.sha256)
    assert catalog.put_upload(again) == again  # the bytes are free again
    assert ids(catalog.list_uploads("user1")) == [again.id, kept.id]


@backends
def test_usage(catalog):
    assert catalog.usage("user1") == {"photos": 0, "videos": 0, "bytes": 0, "trash_count": 0, "trash_bytes": 0}
    catalog.put_upload(upload("user1", 1, size=100))
    catalog.put_upload(upload("user1", 2, size=250))
    video = catalog.put_upload(upload("user1", 3, kind=VIDEO, size=5000))
    trashed = catalog.put_upload(upload("user1", 4, size=40))
    catalog.put_upload(upload("user2", 5, size=999))
    catalog.set_trashed("user1", trashed.id, "2026-11-05T00:00:00Z")
    assert video.kind == VIDEO
    assert catalog.usage("user1") == {"photos": 2, "videos": 1, "bytes": 5350, "trash_count": 1, "trash_bytes": 40}


@backends
@pytest.mark.parametrize("cursor", [
    "not a cursor",
    "e30",  # {}
    base64.urlsafe_b64encode(json.dumps({"after": "../../etc"}).encode()).decode(),
    base64.urlsafe_b64encode(b"[1, 2]").decode(),
    "\u00e9t\u00e9",
])
def test_bad_cursor(catalog, cursor):
    with pytest.raises(BadRequest):
        catalog.list_uploads("user1", cursor=cursor)


@backends
def test_cursor_past_everything(catalog):
    catalog.put_upload(upload("user1", 5))
    page = catalog.list_uploads("user1", cursor=encode_cursor(upload("user1", 0).id))
    assert page.items == () and page.next_cursor is None


# schema and migrations

@backends
def test_migrations(catalog):
    assert catalog.applied_migrations() == {}
    catalog.record_migration("0001_tags", "2026-11-01T00:00:00Z")
    catalog.record_migration("0002_dates", "2026-11-02T00:00:00Z")
    catalog.record_migration("0001_tags", "2026-11-03T00:00:00Z")
    assert catalog.applied_migrations() == {"0001_tags": "2026-11-03T00:00:00Z", "0002_dates": "2026-11-02T00:00:00Z"}


@backends
def test_schema_is_idempotent_and_checked(catalog, backend_config):
    catalog.put_upload(upload("user1", 1))
    catalog.create_schema()
    catalog.check()
    assert len(catalog.list_uploads("user1").items) == 1
    other = {**backend_config, "TABLE_PREFIX": "never-created-", "DATA_DIR": backend_config["DATA_DIR"] + "-none"}
    with pytest.raises(BackendError):
        build_catalog(other, create=False).check()


def test_dynamodb_errors_become_backend_errors(monkeypatch):
    from botocore.config import Config

    from momento import aws
    from momento.catalog import dynamodb

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(aws, "CLIENT_CONFIG", Config(retries={"mode": "standard", "max_attempts": 1}))
    catalog = dynamodb.DynamoCatalog("unreachable-")
    for attempt in (catalog.check, lambda: catalog.get_user("u"), lambda: catalog.create_user(user(1)),
                    lambda: catalog.list_uploads("u"), lambda: catalog.put_upload(upload("u", 1))):
        with pytest.raises(BackendError):
            attempt()


# the date order (the gallery's): dated_page

def dated(catalog, user_id: str, *, limit: int, kind=None, oldest_first: bool = False, cursor=None) -> list[str]:
    """Every id of dated_page, page after page from the cursor; asserts each page is full but the last."""
    seen: list[str] = []
    while True:
        entries, cursor = catalog.dated_page(user_id, cursor=cursor, limit=limit, kind=kind, oldest_first=oldest_first)
        seen += [e.upload_id for e in entries]
        assert len(entries) == limit or cursor is None
        if cursor is None:
            return seen


def taken(i: int) -> str:
    return f"20{10 + i % 5}-0{1 + i % 3}-01T10:00:00Z"


@backends
def test_dated_page_orders_by_date_then_id(catalog):
    # Upload order and dates interleave; three share a date; one has no capture date (its upload date counts).
    made = [catalog.put_upload(upload("user1", i, taken_at=taken(i))) for i in range(9)]
    made += [catalog.put_upload(upload("user1", 20 + i, taken_at="2013-02-01T10:00:00Z")) for i in range(3)]
    made.append(catalog.put_upload(upload("user1", 30, uploaded_at="2012-06-01T00:00:00Z")))
    catalog.put_upload(upload("user2", 40, taken_at="2030-01-01T00:00:00Z"))  # another user's: never seen
    expected = [u.id for u in sorted(made, key=lambda u: (u.sort_date, u.id), reverse=True)]
    assert expected != [u.id for u in reversed(made)]  # not the upload order
    entries, cursor = catalog.dated_page("user1", limit=50)
    assert [e.upload_id for e in entries] == expected and cursor is None
    assert {e.date for e in entries} == {u.sort_date for u in made} and {e.kind for e in entries} == {PHOTO}
    for limit in (1, 2, 5, 12):
        assert dated(catalog, "user1", limit=limit) == expected, limit
    assert catalog.dated_page("user1", limit=13)[1] is None
    # Ties: the higher id first; the three of 2013-02 come in a row.
    tie = [u.id for u in made[9:12]]
    assert expected[expected.index(tie[2]):expected.index(tie[2]) + 3] == tie[::-1]
    # Oldest first from any place, the same sequence backwards.
    entries, middle = catalog.dated_page("user1", limit=6)
    assert dated(catalog, "user1", limit=2, oldest_first=True, cursor=middle) == expected[:5][::-1]
    assert dated(catalog, "user1", limit=4, oldest_first=True) == expected[::-1]
    assert catalog.dated_page("user2", limit=5)[0][0].date == "2030-01-01T00:00:00Z"
    assert catalog.dated_page("nobody", limit=5) == ([], None)


@backends
def test_dated_page_by_kind_fills_its_pages(catalog):
    # Three photos between videos: a filtered read comes back short, so the catalog reads on.
    made = [catalog.put_upload(upload("user1", i, kind=VIDEO if i % 4 == 0 else PHOTO, taken_at=taken(i)))
            for i in range(24)]
    order = sorted(made, key=lambda u: (u.sort_date, u.id), reverse=True)
    videos = [u.id for u in order if u.kind == VIDEO]
    assert dated(catalog, "user1", limit=1, kind=VIDEO) == videos
    assert dated(catalog, "user1", limit=4, kind=VIDEO) == videos
    assert dated(catalog, "user1", limit=5, kind=PHOTO) == [u.id for u in order if u.kind == PHOTO]
    assert dated(catalog, "user1", limit=2, kind=VIDEO, oldest_first=True) == videos[::-1]
    entries, _ = catalog.dated_page("user1", limit=50, kind=VIDEO)
    assert {e.kind for e in entries} == {VIDEO}


@backends
def test_dated_page_leaves_out_the_trash(catalog):
    made = [catalog.put_upload(upload("user1", i, taken_at=taken(i))) for i in range(6)]
    catalog.set_trashed("user1", made[2].id, "2026-11-05T00:00:00Z")
    catalog.delete_upload("user1", made[4].id)
    live = [u.id for u in sorted(made, key=lambda u: (u.sort_date, u.id), reverse=True) if u not in made[2:5:2]]
    assert dated(catalog, "user1", limit=2) == live
    catalog.set_trashed("user1", made[2].id, None)
    assert made[2].id in dated(catalog, "user1", limit=2)
    # The uploads behind the entries, by key.
    got = catalog.get_uploads("user1", live)
    assert {u.id for u in got} == set(live) and catalog.get_uploads("user2", live) == []


@backends
@pytest.mark.parametrize("cursor", [
    "not a cursor",
    "e30",  # {}
    encode_cursor("01ARZ3NDEKTSV4RRFFQ69G5FAV"),  # the upload order's cursor
    base64.urlsafe_b64encode(json.dumps({"date": "2020-01-01T00:00:00Z", "id": "../x"}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps({"date": "2020#01", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps({"date": 2020, "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}).encode()).decode(),
    base64.urlsafe_b64encode(b"[1, 2]").decode(),
    "\u00e9t\u00e9",
])
def test_dated_page_bad_cursor(catalog, cursor):
    with pytest.raises(BadRequest):
        catalog.dated_page("user1", cursor=cursor, limit=5)


@backends
def test_date_and_upload_cursors_do_not_mix(catalog):
    for i in range(3):
        catalog.put_upload(upload("user1", i, taken_at=taken(i)))
    _, cursor = catalog.dated_page("user1", limit=1)
    with pytest.raises(BadRequest):
        catalog.list_uploads("user1", cursor=cursor)
    past = encode_date_cursor("0000", str(ULID.from_timestamp(1_700_000_000)))
    assert catalog.dated_page("user1", cursor=past, limit=5) == ([], None)
