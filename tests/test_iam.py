"""Least privilege, proven: the app's request paths under the web policy with IAM enforced by moto.

A moto server of this module's own (tests/iam_moto_server.py, a separate process, because moto's
enforcement switch is process-wide) holds buckets, tables and IAM users made with the policies that
`flask momento iam-policy` prints. Each test sets its resources up unenforced, then turns enforcement on.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from momento import create_app
from momento.backends import Backends
from momento.catalog.dynamodb import TABLES, DynamoCatalog
from momento.errors import BackendError
from momento.migrate import apply_pending
from momento.ops import iam, verify
from momento.storage.s3 import S3Storage
from tests import corpus
from tests.backends import aws_session
from tests.conftest import Account
from tests.test_streaming import BOUNDARY, multipart
from tests.test_tus import TusClient, padded_video, stored_bytes

aws = pytest.mark.aws
REGION = "us-east-1"
MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def iam_server():
    """The URL of a moto server that enforces IAM once told to."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.iam_moto_server"], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    assert url.startswith("http://"), "the IAM moto server did not start"
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _enforce(url: str, on: bool) -> None:
    # what moto's set_initial_no_auth_action_count does in server mode: later requests are checked
    request = urllib.request.Request(f"{url}/moto-api/reset-auth", data=b"0" if on else b"inf", method="POST",
                                     headers={"Content-Type": "text/plain"})  # a form type would hide the body
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


class KeyedSession:
    """Clients with these keys from the test process's shared boto3 session (parsed models are reused)."""

    def __init__(self, shared, url: str, key: str, secret: str):
        self.shared, self.url, self.key, self.secret = shared, url, key, secret

    def client(self, service: str, **kwargs):
        return self.shared.client(service, aws_access_key_id=self.key, aws_secret_access_key=self.secret,
                                  region_name=REGION, endpoint_url=self.url, **kwargs)


class Deployment:
    """A bucket, tables and one IAM user per role, made for this test's names."""

    def __init__(self, url: str, tmp_path: Path, *, set_up: bool = True):
        tag = uuid.uuid4().hex[:8]
        self.url, self.tmp_path, self._clients = url, tmp_path, {}
        self.bucket, self.prefix = f"momento-iam-{tag}", f"i{tag}-"
        self.names = iam.Names(self.bucket, self.prefix, region=REGION)
        root = self.session("root", "root")
        self.backends = Backends(S3Storage(self.bucket, session=root), DynamoCatalog(self.prefix, session=root))
        if set_up:
            apply_pending(self.backends)  # bucket with its protections, tables, migrations
        client = root.client("iam")
        self.keys = {}
        policies = {role: iam.iam_policy(role, self.names) for role in iam.ROLES}
        policies["web-split"] = iam.iam_policy("web", self.names, split_objects=True)
        for role, policy in policies.items():
            name = f"{role}-{tag}"
            client.create_user(UserName=name)
            client.put_user_policy(UserName=name, PolicyName=f"momento-{role}", PolicyDocument=json.dumps(policy))
            key = client.create_access_key(UserName=name)["AccessKey"]
            self.keys[role] = (key["AccessKeyId"], key["SecretAccessKey"])

    def session(self, key: str, secret: str) -> "KeyedSession":
        return KeyedSession(aws_session(), self.url, key, secret)

    def role_session(self, role: str):
        return self.session(*self.keys[role])

    def client(self, role: str, service: str):
        """One client per role and service (each costs ~0.2 s to build)."""
        if (role, service) not in self._clients:
            self._clients[role, service] = self.role_session(role).client(service)
        return self._clients[role, service]

    def app(self, *, admin: bool = False, split: bool = False, delivery: str = "proxy"):
        """The app as a web server runs it (the web role's keys), plus the admin keys for commands when asked,
        or the uploader's and reader's keys for the objects when split."""
        config = {"TESTING": True, "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False, "BACKEND": "aws",
                  "BUCKET": self.bucket, "TABLE_PREFIX": self.prefix, "DATA_DIR": str(self.tmp_path / "data"),
                  "S3_PART_SIZE": 5 * 1024 * 1024, "MEDIA_DELIVERY": delivery}
        for role in ("admin",) * admin + ("uploader", "reader") * split:
            key, secret = self.keys[role]
            config.update({f"{role.upper()}_ACCESS_KEY_ID": key, f"{role.upper()}_SECRET_ACCESS_KEY": secret})
        return create_app(config)


@pytest.fixture
def deployment(iam_server, tmp_path, monkeypatch):
    """Fresh resources and users; boto3's default credentials are the web role's, and IAM is enforced."""
    yield from _deployment(iam_server, tmp_path, monkeypatch, set_up=True)


@pytest.fixture
def bare_deployment(iam_server, tmp_path, monkeypatch):
    """Users and policies only: no bucket, no tables (init's work); IAM is enforced."""
    yield from _deployment(iam_server, tmp_path, monkeypatch, set_up=False)


def _deployment(iam_server, tmp_path, monkeypatch, *, set_up: bool):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    blank = tmp_path / "aws-config"
    blank.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(blank))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(blank))
    monkeypatch.setenv("AWS_ENDPOINT_URL", iam_server)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    _enforce(iam_server, False)
    made = Deployment(iam_server, tmp_path, set_up=set_up)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", made.keys["web"][0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", made.keys["web"][1])
    _enforce(iam_server, True)
    yield made
    _enforce(iam_server, False)


def _denied(call, *args, **kwargs) -> None:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    meta = caught.value.response
    assert meta["ResponseMetadata"]["HTTPStatusCode"] == 403 or "AccessDenied" in meta["Error"]["Code"], meta


@aws
def test_enforcement_is_on(deployment):
    """Keys that belong to no IAM user are refused once enforcement is on."""
    stranger = deployment.session("AKIAIOSFODNN7EXAMPLE", "x").client("s3")
    with pytest.raises(ClientError):
        stranger.list_objects_v2(Bucket=deployment.bucket)


def _walk_every_request_path(app) -> None:
    """Each kind of request a user makes, from registration to a revoked token; each must succeed."""
    alice = Account(app, "alice@example.com")  # registration and a token: users and index tables
    assert app.test_client().get("/healthz").json == {"status": "ok"}
    photo = corpus.jpeg(80, 60, exif_date="2024:07:01 12:00:00")
    made = alice.upload(photo, "beach.jpg", tags="sea,family")
    assert made.status_code == 201, made.json
    upload_id = made.json["id"]
    assert alice.upload(photo, "again.jpg").json["duplicate"] is True
    video = alice.upload(corpus.mp4(1), "clip.mp4")
    assert video.status_code == 201, video.json

    assert [u["id"] for u in alice.get("/api/v1/uploads?kind=photo").json["items"]] == [upload_id]
    assert len(alice.get("/api/v1/uploads").json["items"]) == 2
    assert [u["id"] for u in alice.get("/api/v1/uploads?tag=sea&q=beach").json["items"]] == [upload_id]
    assert alice.get("/api/v1/uploads?from=2024-07-01&to=2024-07-31").json["items"][0]["id"] == upload_id
    assert alice.get(f"/api/v1/uploads/{upload_id}").json["filename"] == "beach.jpg"
    assert alice.patch(f"/api/v1/uploads/{upload_id}", json={"tags": ["holiday"]}).json["tags"] == ["holiday"]
    assert {"tag": "holiday", "count": 1} in alice.get("/api/v1/tags").json["items"]
    original = alice.get(f"/media/{upload_id}/original", headers={"Range": "bytes=0-9"})
    assert original.status_code == 206 and original.data == photo[:10]
    assert alice.get(f"/media/{upload_id}/thumbnail").status_code == 200
    assert alice.head(f"/media/{upload_id}/original").status_code == 200
    assert alice.get(f"/media/{video.json['id']}/playback").status_code == 404  # ObjectMissing, not a 403
    assert alice.delete(f"/api/v1/uploads/{upload_id}").status_code == 204
    assert alice.get("/api/v1/uploads?tag=holiday").json["items"] == []
    assert alice.post(f"/api/v1/uploads/{upload_id}/restore").json["trashed_at"] is None
    signed_in = alice.client.post("/api/v1/auth/token", json={"email": alice.email, "password": alice.password})
    assert signed_in.status_code == 201
    assert alice.client.delete("/api/v1/auth/token",
                               headers={"Authorization": f"Bearer {signed_in.json['token']}"}).status_code == 204

    # streaming in parts, and giving up on a part-written object
    storage = app.extensions["momento"].storage
    writer = storage.writer(f"user-{alice.user.id}/videos/{uuid.uuid4().hex}.mp4", "video/mp4")
    writer.write(os.urandom(6 * 1024 * 1024))
    assert writer.commit().size == 6 * 1024 * 1024
    dropped = storage.writer(f"user-{alice.user.id}/videos/{uuid.uuid4().hex}.mp4", "video/mp4")
    dropped.write(os.urandom(6 * 1024 * 1024))
    dropped.abort()
    # a large form upload goes up as one PUT while it arrives; a field after its file is cut off again inside S3
    # (with the web role) or through the server (a write-only uploader key may not read what it would copy)
    for n, tags_after in enumerate((False, True)):
        big = padded_video(6 * MiB + n)
        body = multipart(big, "big.mp4", tags="late", tags_after=tags_after)
        made = alice.client.post("/api/v1/uploads", input_stream=io.BytesIO(body), content_length=len(body),
                                 content_type=f"multipart/form-data; boundary={BOUNDARY}", headers=alice.headers)
        assert made.status_code == 201, made.json
        assert stored_bytes(alice, made.json["id"]) == big
    # a resumable upload in two PATCHes: a 5 MiB part, then a tail kept under tus/ until the rest arrives
    app.config["TUS_PART_SIZE"] = 5 * MiB
    tus, resumable = TusClient(alice), padded_video(6 * MiB)
    url = tus.start(resumable, filename="long.mp4")
    for start, end in ((0, 5 * MiB + 1000), (5 * MiB + 1000, len(resumable))):
        assert tus.patch(url, resumable[start:end], start).status_code == 204
    assert stored_bytes(alice, tus.state(url)["upload"]["id"]) == resumable
    # a QuickTime movie gets a browser rendition from the worker: it reads the original, writes the playback
    movie = alice.upload(corpus.mov(1), "clip.mov")
    assert movie.status_code == 201, movie.json
    worked = app.test_cli_runner().invoke(args=["momento", "work", "--json"])
    assert worked.exit_code == 0, worked.output
    assert alice.get(f"/media/{movie.json['id']}/playback").status_code == 200


@aws
def test_web_role_serves_every_request_path(deployment):
    _walk_every_request_path(deployment.app())


@aws
def test_split_object_keys_serve_every_request_path(deployment, monkeypatch):
    """With uploader and reader keys configured, the server's own key needs (and has) no object permission."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", deployment.keys["web-split"][0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", deployment.keys["web-split"][1])
    app = deployment.app(split=True)
    _walk_every_request_path(app)
    web = deployment.client("web-split", "s3")
    key = deployment.client("reader", "s3").list_objects_v2(Bucket=deployment.bucket, Prefix="user-")["Contents"][0]["Key"]
    _denied(web.get_object, Bucket=deployment.bucket, Key=key)
    _denied(web.put_object, Bucket=deployment.bucket, Key=key, Body=b"overwritten")
    assert web.head_bucket(Bucket=deployment.bucket)  # /healthz


@aws
def test_web_role_cannot_delete_scan_or_step_outside_user_folders(deployment):
    app = deployment.app()
    alice = Account(app, "alice@example.com")
    upload_id = alice.upload(corpus.jpeg(40, 40)).json["id"]
    record = app.extensions["momento"].catalog.get_upload(alice.user.id, upload_id)
    s3, ddb = deployment.client("web", "s3"), deployment.client("web", "dynamodb")
    uploads = f"{deployment.prefix}uploads"
    key = {"userId": {"S": alice.user.id}, "uploadId": {"S": upload_id}}

    _denied(s3.delete_object, Bucket=deployment.bucket, Key=record.original_key)
    batch = s3.delete_objects(Bucket=deployment.bucket, Delete={"Objects": [{"Key": record.thumb_key}]})
    assert [e["Code"] for e in batch["Errors"]] == ["AccessDenied"] and not batch.get("Deleted")  # per key, as S3
    _denied(s3.put_object, Bucket=deployment.bucket, Key="elsewhere/x", Body=b"x")
    _denied(s3.get_bucket_policy, Bucket=deployment.bucket)
    _denied(ddb.delete_item, TableName=uploads, Key=key)
    _denied(ddb.batch_write_item, RequestItems={uploads: [{"DeleteRequest": {"Key": key}}]})
    _denied(ddb.transact_write_items, TransactItems=[{"Delete": {"TableName": uploads, "Key": key}}])
    _denied(ddb.scan, TableName=uploads)
    _denied(ddb.delete_table, TableName=uploads)
    _denied(ddb.get_item, TableName=f"{deployment.prefix}meta", Key={"pk": {"S": "migrations"}})
    with pytest.raises(BackendError):
        app.extensions["momento"].storage.delete(record.original_key)
    with pytest.raises(BackendError):
        app.extensions["momento"].catalog.delete_upload(alice.user.id, upload_id)
    # nothing was harmed
    assert alice.get(f"/media/{upload_id}/original").status_code == 200
    # and the web role may delete where the design needs it: index entries (a tag removed), tokens
    assert alice.patch(f"/api/v1/uploads/{upload_id}", json={"tags": []}).status_code == 200
    assert alice.client.delete("/api/v1/auth/token", headers=alice.headers).status_code == 204


@aws
def test_purge_and_verify_need_the_admin_role(deployment, monkeypatch):
    web_only = deployment.app()
    alice = Account(web_only, "alice@example.com")
    gone = alice.upload(corpus.jpeg(30, 30)).json["id"]
    assert alice.delete(f"/api/v1/uploads/{gone}").status_code == 204
    refused = web_only.test_cli_runner().invoke(args=["momento", "purge", "--older-than", "0"])
    assert refused.exit_code == 1
    assert web_only.extensions["momento"].catalog.get_upload(alice.user.id, gone) is not None

    # An upload whose record could not be written: the web role may not delete its objects (compensation
    # fails and is logged), so they stay as orphans for verify --repair under the admin role.
    def lost(upload, job=None):
        raise BackendError("injected")

    with monkeypatch.context() as patched:
        patched.setattr(web_only.extensions["momento"].catalog, "put_upload", lost)
        assert alice.upload(corpus.png(20, 20)).status_code == 503

    admin = deployment.app(admin=True)
    runner = admin.test_cli_runner()
    purged = runner.invoke(args=["momento", "purge", "--older-than", "0", "--json"])
    assert purged.exit_code == 0, purged.output
    assert json.loads(purged.output)["purged"] == 1
    assert admin.extensions["momento"].catalog.get_upload(alice.user.id, gone) is None

    monkeypatch.setattr(verify, "ORPHAN_GRACE", -1.0)
    found = runner.invoke(args=["momento", "verify", "--repair", "--json"])
    report = json.loads(found.output)
    assert found.exit_code == 0, report
    assert sorted(p["kind"] for p in report["problems"]) == ["orphan_object", "orphan_object"]
    assert all(p["repaired"] for p in report["problems"])
    assert list(admin.extensions["momento_admin"].storage.list("")) == []
    stats = runner.invoke(args=["momento", "stats", "--json"])
    assert stats.exit_code == 0 and json.loads(stats.output)["total"]["trashed"] == 0


@aws
def test_init_and_migrate_from_nothing_need_the_admin_role(bare_deployment):
    refused = bare_deployment.app().test_cli_runner().invoke(args=["momento", "init"])
    assert refused.exit_code == 1 and "AccessDenied" in refused.output
    runner = bare_deployment.app(admin=True).test_cli_runner()
    made = runner.invoke(args=["momento", "init"])
    assert made.exit_code == 0, made.output
    checked = runner.invoke(args=["momento", "init", "--check", "--json"])
    assert checked.exit_code == 0, checked.output
    status = json.loads(runner.invoke(args=["momento", "migrate", "--status", "--json"]).output)
    assert len(status) >= 4 and all(step["applied_at"] for step in status), status
    assert runner.invoke(args=["momento", "migrate"]).exit_code == 0  # nothing left, still fine
    _walk_every_request_path(bare_deployment.app())  # and the web role can serve from what init made


@aws
def test_uploader_writes_but_cannot_read_and_reader_reads_but_cannot_write(deployment):
    key = "user-someone/photos/01JD3Z8Q4M5X2V7K9T1B6N0C3F.jpg"
    uploader = S3Storage(deployment.bucket, session=deployment.role_session("uploader"))
    reader = S3Storage(deployment.bucket, session=deployment.role_session("reader"))
    uploader.put_bytes(key, b"photo bytes", "image/jpeg")
    with pytest.raises(BackendError):
        b"".join(uploader.open(key))
    assert b"".join(reader.open(key)) == b"photo bytes"
    with pytest.raises(BackendError):
        reader.put_bytes(key, b"overwritten", "image/jpeg")
    for role in ("uploader", "reader"):
        _denied(deployment.client(role, "s3").delete_object, Bucket=deployment.bucket, Key=key)
        _denied(deployment.client(role, "dynamodb").get_item, TableName=f"{deployment.prefix}users",
                Key={"pk": {"S": "x"}})
    _denied(deployment.client("uploader", "s3").list_objects_v2, Bucket=deployment.bucket)
    _denied(deployment.client("uploader", "s3").put_object, Bucket=deployment.bucket, Key="other/x", Body=b"x")
    assert b"".join(reader.open(key)) == b"photo bytes"


def test_policies_cover_every_table_and_kms():
    """A new table must get a decision in the policies; a KMS key is granted to each role that needs it."""
    assert set(iam.TABLES) == set(TABLES)
    names = iam.Names("b", "p-", "1234abcd-12ab-34cd-56ef-1234567890ab", region=REGION, account="111122223333")
    key_arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    for role, actions in (("web", {"kms:Decrypt", "kms:GenerateDataKey"}), ("reader", {"kms:Decrypt"})):
        [grant] = [s for s in iam.iam_policy(role, names)["Statement"] if s["Resource"] == key_arn]
        assert set(grant["Action"]) == actions
    with pytest.raises(Exception, match="alias"):
        iam.Names("b", "p-", "alias/momento")
    web = json.dumps(iam.iam_policy("web", names))
    assert '"dynamodb:Scan"' in web and web.count('"Deny"') == 2


def test_iam_policy_command(app, runner, monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    default = json.loads(runner.invoke(args=["momento", "iam-policy"]).output)
    assert default == iam.iam_policy("web", iam.Names(app.config["BUCKET"], app.config["TABLE_PREFIX"]))
    for role in iam.ROLES:
        result = runner.invoke(args=["momento", "iam-policy", "--role", role, "--region", "eu-west-1",
                                     "--account", "111122223333"])
        assert result.exit_code == 0
        policy = json.loads(result.output)
        assert policy["Version"] == "2012-10-17" and policy["Statement"]
        assert "arn:aws:dynamodb:eu-west-1:111122223333:table/" in result.output or role in ("uploader", "reader")
    assert runner.invoke(args=["momento", "iam-policy", "--role", "root"]).exit_code == 2


def test_policies_name_only_configured_resources():
    names = iam.Names("photos-bucket", "prod-", region=REGION, account="111122223333")
    resources = set()
    for role in iam.ROLES:
        for statement in iam.iam_policy(role, names)["Statement"]:
            found = statement["Resource"]
            resources.update([found] if isinstance(found, str) else found)
    assert resources == {"arn:aws:s3:::photos-bucket", "arn:aws:s3:::photos-bucket/user-*",
                         "arn:aws:s3:::photos-bucket/tus/*", "arn:aws:s3:::photos-bucket/*"} | {
        f"arn:aws:dynamodb:us-east-1:111122223333:table/prod-{t}" for t in TABLES}


def test_admin_credentials_are_checked(tmp_path, monkeypatch):
    from momento.config import ConfigError
    from momento.ops.admin import admin_session

    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for cfg, message in (({"ADMIN_PROFILE": "ops", "ADMIN_ACCESS_KEY_ID": "AKIA1"}, "not both"),
                         ({"ADMIN_ACCESS_KEY_ID": "AKIA1"}, "go together"),
                         ({"ADMIN_SESSION_TOKEN": "t"}, "go together"),
                         ({"ADMIN_PROFILE": "no-such-profile"}, "cannot be used")):
        with pytest.raises(ConfigError, match=message):
            admin_session(cfg)
    session = admin_session({"ADMIN_ACCESS_KEY_ID": "AKIA1", "ADMIN_SECRET_ACCESS_KEY": "s"})
    assert session.get_credentials().access_key == "AKIA1"


def test_local_backend_ignores_admin_credentials(tmp_path):
    from momento.ops.admin import admin_backends

    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "ADMIN_PROFILE": "ops"})
    assert admin_backends(app) is app.extensions["momento"]


def test_split_object_keys_come_in_pairs(tmp_path):
    from momento.config import ConfigError

    with pytest.raises(ConfigError, match="both"):
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "BACKEND": "aws", "UPLOADER_PROFILE": "up"})
    with pytest.raises(ConfigError, match="go together"):
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "BACKEND": "aws", "UPLOADER_ACCESS_KEY_ID": "AKIA1",
                    "READER_ACCESS_KEY_ID": "AKIA2", "READER_SECRET_ACCESS_KEY": "s"})


def test_iam_policy_for_split_object_keys(runner, app):
    plain = json.loads(runner.invoke(args=["momento", "iam-policy"]).output)
    split = json.loads(runner.invoke(args=["momento", "iam-policy", "--split-objects"]).output)
    allowed = [a for s in split["Statement"] if s["Effect"] == "Allow" for a in s["Action"]]
    assert not [a for a in allowed if a.startswith("s3:") and a != "s3:ListBucket"]
    assert any(s["Sid"] == "ObjectsUnderUserPrefixes" for s in plain["Statement"])
    app.config.update(UPLOADER_PROFILE="up", READER_PROFILE="down")  # configured: split by default
    assert json.loads(runner.invoke(args=["momento", "iam-policy"]).output) == split


@aws
def test_presigned_media_are_signed_by_the_reader_and_open_without_credentials(deployment, iam_server, monkeypatch):
    """With split keys, /media sends the browser to a URL signed with the reader's key (the web key has no
    object permission at all), which opens without credentials."""
    import urllib.request
    from urllib.parse import parse_qs, urlsplit

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", deployment.keys["web-split"][0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", deployment.keys["web-split"][1])
    alice = Account(deployment.app(split=True, delivery="presigned"), "alice@example.com")
    photo = corpus.jpeg(40, 40)
    location = alice.get(f"/media/{alice.upload(photo).json['id']}/original").headers["Location"]
    assert parse_qs(urlsplit(location).query)["X-Amz-Credential"][0].startswith(deployment.keys["reader"][0] + "/")
    _enforce(iam_server, False)  # moto's IAM checks cannot read a query-string signature (a 500); S3's can
    with urllib.request.urlopen(location, timeout=30) as resp:
        assert resp.read() == photo
