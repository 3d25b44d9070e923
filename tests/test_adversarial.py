"""Request-level attacks: form parts and fields, bodies longer or shorter than declared or without a length,
Range abuse, oversized headers, non-UTF-8 filenames, JSON of the wrong shape and ids of the wrong form on
every route. Each answers a 4xx with a JSON error (API, media) or a readable page, never a 5xx."""
from __future__ import annotations

import io
import json
import re

import pytest

from tests import corpus

pytestmark = pytest.mark.usefixtures("fast_passwords")  # many sign-ins: hashing is not under test here

BOUNDARY = "adversarialboundary"
ULID_OF_NOBODY = "01JD3Z8Q4M5X2V7K9T1B6N0C3F"


def assert_refused(resp, *statuses):
    """A 4xx (one of `statuses` when given) with an error a script or a person can read."""
    body = resp.get_data(as_text=True)
    assert 400 <= resp.status_code < 500, (resp.status_code, body[:300])
    if statuses:
        assert resp.status_code in statuses, (resp.status_code, body[:300])
    if resp.mimetype == "application/json":
        error = resp.json["error"]
        assert re.fullmatch(r"[a-z_]+", error["code"]) and error["message"]
    else:
        assert resp.mimetype == "text/html" and "<h1>" in body, body[:300]


def never_5xx(resp):
    assert resp.status_code < 500, (resp.status_code, resp.get_data(as_text=True)[:300])
    if resp.status_code >= 400:
        assert_refused(resp)


@pytest.fixture
def photo(alice):
    """One of alice's uploads."""
    resp = alice.upload(corpus.jpeg(64, 48), filename="mine.jpg")
    assert resp.status_code == 201
    return resp.json


def _routes(app):
    """(rule, method) for every route but static files."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
            yield rule, method


def _url(rule, upload_id: str) -> str:
    return rule.rule.replace("<upload_id>", upload_id)


def _multipart(parts: list[tuple[str, bytes, str | None]]) -> bytes:
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def _post_upload(alice, body: bytes, **environ):
    return alice.client.post("/api/v1/uploads", data=body, headers=alice.headers,
                             content_type=f"multipart/form-data; boundary={BOUNDARY}", **environ)


# forms

def test_empty_fields_as_http_libraries_encode_them(alice):
    from urllib3.filepost import encode_multipart_formdata

    for i, fields in enumerate(({"tags": "", "file": ("a.jpg", None)}, {"file": ("b.jpg", None), "tags": ""})):
        fields["file"] = (fields["file"][0], corpus.jpeg(60 + i, 40), "image/jpeg")
        body, ctype = encode_multipart_formdata(fields)
        resp = alice.client.post("/api/v1/uploads", data=body, headers=alice.headers, content_type=ctype)
        assert resp.status_code == 201 and resp.json["tags"] == [], resp.json


def test_too_many_form_parts_on_the_upload(alice):
    parts = [(f"f{i}", b"x", None) for i in range(500)] + [("file", corpus.jpeg(), "a.jpg")]
    assert_refused(_post_upload(alice, _multipart(parts)), 400, 413)


def test_oversized_tags_field(alice, app):
    big = b"a," * (app.config["MAX_FORM_MEMORY_SIZE"])
    assert_refused(_post_upload(alice, _multipart([("tags", big, None), ("file", corpus.jpeg(), "a.jpg")])), 400, 413)


def test_two_files_and_no_file(alice):
    two = _multipart([("file", corpus.jpeg(), "a.jpg"), ("file", corpus.png(), "b.png")])
    assert_refused(_post_upload(alice, two), 400)
    assert_refused(_post_upload(alice, _multipart([("tags", b"x", None)])), 400)
    assert_refused(_post_upload(alice, _multipart([("file", b"a text field, not a file", None)])), 400)
    assert_refused(_post_upload(alice, b"--" + BOUNDARY.encode() + b"\r\ngarbage"), 400)


@pytest.mark.parametrize("path", ["/login", "/register"])
def test_page_forms_with_too_many_parts_or_huge_fields(client, path):
    many = "&".join(f"f{i}=x" for i in range(2000))
    assert_refused(client.post(path, data=many, content_type="application/x-www-form-urlencoded"), 400, 413)
    assert_refused(client.post(path, json=["not", "a", "form"]), 400)
    huge = "email=" + "a" * (2 * 1024 * 1024)
    assert_refused(client.post(path, data=huge, content_type="application/x-www-form-urlencoded"), 400, 413)


def test_tags_page_form_with_a_huge_field(app, alice, photo):
    c = app.test_client()
    c.post("/login", data={"email": alice.email, "password": alice.password})
    resp = c.post(f"/uploads/{photo['id']}/tags", data={"tags": "t," * 400_000})
    never_5xx(resp)


# bodies and their declared length

def test_body_longer_than_declared(alice):
    """The server reads what Content-Length says and no more: the multipart ends too soon."""
    body = _multipart([("file", corpus.jpeg(), "a.jpg")])
    resp = alice.client.post("/api/v1/uploads", input_stream=io.BytesIO(body + b"x" * 5000), headers=alice.headers,
                             content_type=f"multipart/form-data; boundary={BOUNDARY}",
                             environ_overrides={"CONTENT_LENGTH": str(len(body) - 40)})
    assert_refused(resp, 400)
    assert alice.get("/api/v1/uploads").json["items"] == []


def test_body_shorter_than_declared(alice):
    body = _multipart([("file", corpus.jpeg(), "a.jpg")])
    resp = alice.client.post("/api/v1/uploads", input_stream=io.BytesIO(body[: len(body) // 2]), headers=alice.headers,
                             content_type=f"multipart/form-data; boundary={BOUNDARY}",
                             environ_overrides={"CONTENT_LENGTH": str(len(body))})
    assert_refused(resp, 400)
    assert alice.get("/api/v1/uploads").json["items"] == []


def test_declared_length_over_the_limit_is_refused_before_reading(app, alice):
    resp = alice.client.post("/api/v1/uploads", input_stream=io.BytesIO(b""), headers=alice.headers,
                             content_type=f"multipart/form-data; boundary={BOUNDARY}",
                             environ_overrides={"CONTENT_LENGTH": str(app.config["MAX_CONTENT_LENGTH"] + 1)})
    assert_refused(resp, 413)


def test_chunked_body_without_a_length(alice):
    """A chunked request (the server sets wsgi.input_terminated) is read to its end like any other."""
    body = _multipart([("file", corpus.jpeg(90, 60), "chunked.jpg")])
    resp = alice.client.post("/api/v1/uploads", input_stream=io.BytesIO(body),
                             headers={**alice.headers, "Transfer-Encoding": "chunked",
                                      "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                             environ_overrides={"wsgi.input_terminated": True})
    assert resp.status_code == 201, resp.json
    cut = alice.client.post("/api/v1/uploads", input_stream=io.BytesIO(body[:-60]),
                            headers={**alice.headers, "Transfer-Encoding": "chunked",
                                     "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                            environ_overrides={"wsgi.input_terminated": True})
    assert_refused(cut, 400)


def test_json_body_over_a_megabyte_is_refused(client, alice, photo):
    huge = json.dumps({"email": "a" * (2 * 1024 * 1024), "password": "x"})
    assert_refused(client.post("/api/v1/auth/token", data=huge, content_type="application/json"), 413)
    tags = json.dumps({"tags": ["t"] * 600_000})
    assert_refused(alice.client.patch(f"/api/v1/uploads/{photo['id']}", data=tags, headers=alice.headers,
                                      content_type="application/json"), 413)


# ranges

@pytest.mark.parametrize("header", [
    "bytes=abc", "bytes=5-2", "bytes=-", "bytes=", "items=0-1", "bytes=--1", "bytes=1-2-3", "bytes 0-1",
    "bytes=0-18446744073709551616", "bytes=-18446744073709551616", "bytes=99999999999-", "bytes=\u00e9-1",
    "bytes=0-1," * 2000, ",".join(f"bytes={i}-{i}" for i in range(300)), "bytes=" + ",".join(["0-"] * 1000),
    "bytes=0-0,-1", "bytes=" + "9" * 5000 + "-",
])
def test_malformed_and_many_range_requests(alice, photo, header):
    resp = alice.get(photo["urls"]["original"], headers={"Range": header})
    assert resp.status_code in (200, 206, 416), (resp.status_code, resp.get_data()[:200])
    if resp.status_code == 206:
        assert resp.headers["Content-Range"].startswith("bytes ")
        assert "multipart/byteranges" not in resp.content_type
    if resp.status_code == 416:
        assert resp.headers["Content-Range"] == f"bytes */{photo['size']}"
        assert resp.json["error"]["code"] == "range_not_satisfiable"


def test_if_range_and_conditional_headers_of_the_wrong_form(alice, photo):
    for headers in ({"If-Range": "garbage", "Range": "bytes=0-1"}, {"If-None-Match": "\"" * 500},
                    {"If-Modified-Since": "yesterday"}, {"If-Range": "Wed, 21 Oct 2015 07:28:00 GMT", "Range": "bytes=0-1"}):
        never_5xx(alice.get(photo["urls"]["original"], headers=headers))


# headers a proxy might let through

def test_oversized_headers_are_answered_sensibly(app, alice, photo):
    c = app.test_client()
    assert c.get("/api/v1/uploads", headers={"Authorization": "Bearer " + "x" * 100_000}).status_code == 401
    assert c.get("/api/v1/uploads", headers={"Authorization": "Basic " + "x" * 100_000}).status_code == 401
    c.set_cookie("session", "y" * 4000)
    assert c.get("/").status_code == 302  # a cookie that is not a session is no session
    never_5xx(alice.get("/api/v1/uploads", headers={"Accept": ",".join(["text/html;q=0.5"] * 5000)}))
    never_5xx(alice.get("/api/v1/uploads", headers={"Cookie": "; ".join(f"c{i}=v" for i in range(5000))}))
    never_5xx(alice.get("/api/v1/uploads", headers={"X-Forwarded-For": ", ".join(["10.0.0.1"] * 5000)}))
    ua = {"User-Agent": "U" * 100_000}
    resp = app.test_client().post("/login", data={"email": alice.email, "password": alice.password}, headers=ua)
    assert resp.status_code == 302
    with app.app_context():
        [event] = [e for e in app.extensions["momento"].catalog.list_audit_events(alice.user.id).items
                   if e.action == "sign_in"]
    assert len(event.user_agent) <= 300


def test_header_injection_attempts_in_a_filename(alice):
    resp = alice.upload(corpus.jpeg(), filename="evil\r\nSet-Cookie: owned=1\r\n.jpg")
    # Raw CR/LF break the part's headers (browsers escape them): the form is malformed, or has no file part.
    assert "owned" not in resp.headers.get("Set-Cookie", "")
    if resp.status_code == 400:
        assert resp.json["error"]["code"] in ("malformed_form", "missing_file")
        resp = alice.upload(corpus.jpeg(), filename="evil%0D%0ASet-Cookie: owned=1%0D%0A.jpg")
    assert resp.status_code == 201
    media = alice.get(resp.json["urls"]["original"])
    assert "owned" not in media.headers.get("Set-Cookie", "")
    assert "\r" not in media.headers["Content-Disposition"] and "\n" not in media.headers["Content-Disposition"]


# filenames

@pytest.mark.parametrize("raw_name", [b"\xff\xfe\xfd.jpg", b"caf\xe9.jpg", b"\xc3\x28.jpg", b"nul\x00byte.jpg",
                                      b"\xed\xa0\x80surrogate.jpg", "文件名.jpg".encode("gb18030"), b"A" * 5000 + b".jpg"])
def test_non_utf8_filenames(alice, raw_name):
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".encode() + raw_name
            + b"\"\r\nContent-Type: image/jpeg\r\n\r\n" + corpus.jpeg(70, 40) + f"\r\n--{BOUNDARY}--\r\n".encode())
    resp = _post_upload(alice, body)
    if resp.status_code >= 400:
        assert_refused(resp, 400)
        return
    assert resp.status_code == 201
    name = resp.json["filename"]
    assert name and "\x00" not in name and len(name) <= 200
    name.encode("utf-8")  # stored as valid UTF-8
    media = alice.get(resp.json["urls"]["original"])
    assert media.status_code == 200
    media.headers["Content-Disposition"].encode("latin-1")  # a header value HTTP can carry


def test_rfc5987_filename_star_with_invalid_utf8(alice):
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%FF%FE%00x.jpg\r\n\r\n"
            .encode() + corpus.jpeg(50, 50) + f"\r\n--{BOUNDARY}--\r\n".encode())
    never_5xx(_post_upload(alice, body))


def test_rfc5987_filename_star_as_older_http_libraries_send_it(alice):
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''caf%C3%A9.jpg\r\n\r\n"
            .encode() + corpus.jpeg(52, 50) + f"\r\n--{BOUNDARY}--\r\n".encode())
    resp = _post_upload(alice, body)
    assert resp.status_code == 201 and resp.json["filename"] == "café.jpg"


# JSON of the wrong shape, on every route that takes a body

WRONG_JSON = [b"[]", b'"text"', b"null", b"42", b"{}", b'{"tags": "beach"}', b'{"tags": [1, 2]}',
              b'{"tags": [{"a": 1}]}', b'{"tags": [null]}', b'{"tags": ["' + b"x" * 5000 + b'"]}',
              b'{"tags": [' + b",".join(b'"t%d"' % i for i in range(10_000)) + b"]}", b'{"email": ["a"], "password": {"b": 1}}',
              b'{"email": NaN, "password": Infinity}', b'{"email": 1e99999}', b"\xff\xfe{}", b"{" * 50_000,
              b"[" * 100_000 + b"]" * 100_000, b'{"email": "a@b.c", "password": "x", "email": "dup"}',
              b'{"tags": ["\\ud800"]}']


def test_wrong_json_on_every_route(app, alice, photo):
    for rule, method in _routes(app):
        if (rule.rule, method) == ("/api/v1/auth/token", "DELETE"):
            continue  # takes no body, and would revoke the token the loop uses (revocation is tested below)
        url = _url(rule, photo["id"])
        for body in WRONG_JSON:
            resp = alice.client.open(url, method=method, data=body, content_type="application/json",
                                     headers=alice.headers)
            never_5xx(resp)
            if rule.rule in ("/api/v1/auth/token",) and method == "POST":
                assert_refused(resp, 400, 401)  # 401: a well-formed body (a repeated key) with wrong credentials
            if rule.rule == "/api/v1/uploads/<upload_id>" and method == "PATCH":
                assert_refused(resp, 400, 413)
    assert alice.get(f"/api/v1/uploads/{photo['id']}").json["tags"] == []
    for body in WRONG_JSON:
        never_5xx(alice.client.delete("/api/v1/auth/token", data=body, content_type="application/json",
                                      headers=alice.headers))


def test_json_with_a_form_content_type_and_the_reverse(client, alice, photo):
    assert_refused(client.post("/api/v1/auth/token", data='{"email": "a", "password": "b"}',
                               content_type="text/plain"), 400)
    assert_refused(alice.client.patch(f"/api/v1/uploads/{photo['id']}", data={"tags": "x"}, headers=alice.headers),
                   400)


# ids and query strings of the wrong form

WRONG_IDS = ["x", "0" * 26, ULID_OF_NOBODY, ULID_OF_NOBODY.lower(), "A" * 1000, "%00", "%FF%FE", "..", ".",
             "%2e%2e", "' OR '1'='1", "é" * 26, "01JD3Z8Q4M5X2V7K9T1B6N0C3F%0A", "null", "-1", "%20" * 30]


def test_wrong_ids_on_every_route(app, alice, bob, photo):
    for rule, method in _routes(app):
        if "<upload_id>" not in rule.rule:
            continue
        for upload_id in WRONG_IDS + [photo["id"].lower()]:
            for who in (alice, bob):
                resp = who.client.open(_url(rule, upload_id), method=method, headers=who.headers,
                                       json={"tags": ["x"]} if method == "PATCH" else None)
                assert_refused(resp, 404, 405)
        # alice's real id is a 404 for bob, on every method
        resp = bob.client.open(_url(rule, photo["id"]), method=method, headers=bob.headers,
                               json={"tags": ["x"]} if method == "PATCH" else None)
        assert_refused(resp, 404)


@pytest.mark.parametrize("query", [
    "limit=-1", "limit=0", "limit=abc", "limit=1e9", "limit=99999999999999999999", "cursor=garbage",
    "cursor=" + "A" * 5000, "cursor=eyJhZnRlciI6IDF9", "kind=sofa", "from=notadate", "to=2024-13-45",
    "from=2025-01-01&to=2024-01-01", "tag=" + "t" * 5000, "&".join(["tag=x"] * 300), "&".join(["any_tag=x"] * 300),
    "&".join(["not_tag=x"] * 300), "q=" + "%00" * 50, "q=" + "%FF" * 50, "tag=%00", "q=" + "a" * 10_000,
])
def test_wrong_query_strings(app, alice, photo, query):
    for path in ("/api/v1/uploads", "/", "/search", "/trash", "/account"):
        never_5xx(alice.get(f"{path}?{query}", headers={"Accept": "text/html"}) if not path.startswith("/api")
                  else alice.get(f"{path}?{query}"))


def test_methods_that_do_not_exist(app, alice, photo):
    for path in ("/api/v1/uploads", f"/api/v1/uploads/{photo['id']}", "/logout", "/login", f"/media/{photo['id']}/original"):
        for method in ("PUT", "TRACE", "PROPFIND"):
            resp = alice.client.open(path, method=method, headers=alice.headers)
            assert_refused(resp, 405)
    page = app.test_client().get("/logout", headers={"Accept": "text/html"})  # signs nobody out: a page or /login
    assert page.status_code == 302 and page.headers["Location"].endswith("/login")
