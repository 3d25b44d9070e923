"""`flask momento init [--check]`: the bucket's protections and the tables, on both backends."""
from __future__ import annotations

import json
import os

import pytest

from tests.conftest import both_backends


def _check(runner):
    result = runner.invoke(args=["momento", "init", "--check", "--json"])
    return result.exit_code, json.loads(result.output)


@both_backends
def test_check_is_clean_after_init_and_reruns(app, runner):
    assert runner.invoke(args=["momento", "init"]).exit_code == 0
    code, report = _check(runner)
    assert code == 0 and report["clean"], report
    assert report["backend"] == app.config["BACKEND"]
    assert [c for c in report["checks"] if c["setting"] == "migrations"][0]["actual"] == "all applied"
    again = runner.invoke(args=["momento", "init", "--json"])
    assert again.exit_code == 0 and json.loads(again.output)["applied"] == []
    table = runner.invoke(args=["momento", "init", "--check"])
    assert table.exit_code == 0 and "Everything is as" in table.output


def test_check_on_local_reports_what_its_start_had_to_set_right(tmp_path):
    """The embedded backend sets itself up as any command starts; `init --check` says what that start made or
    closed, so the check still tells an operator what was wrong (and `init` then forgets it)."""
    import subprocess
    import sys

    env = os.environ | {"MOMENTO_SECRET_KEY": "x", "MOMENTO_DATA_DIR": str(tmp_path / "data")}

    def check():
        done = subprocess.run([sys.executable, "-m", "flask", "momento", "init", "--check", "--json"], env=env,
                              capture_output=True, text=True)
        return done.returncode, {c["setting"].split("/")[-1]: c["actual"] for c in json.loads(done.stdout)["checks"]
                                 if not c["ok"]}

    code, bad = check()
    assert code == 1 and set(bad) == {"objects", "tmp", "database momento.sqlite3"}
    assert all("made as this process started" in v for v in bad.values())
    os.chmod(tmp_path / "data" / "tmp", 0o777)
    code, bad = check()
    assert code == 1 and bad == {"tmp": "mode 777 (closed as this process started)"}
    assert (os.stat(tmp_path / "data" / "tmp").st_mode & 0o777) == 0o770
    assert check() == (0, {})


@pytest.mark.aws
@pytest.mark.parametrize("app", ["aws"], indirect=True)
def test_check_reports_every_difference_of_a_bucket_made_wrong(app, runner, backends):
    client, bucket = backends.storage.client, backends.storage.bucket
    client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True, "RestrictPublicBuckets": False})
    client.delete_bucket_ownership_controls(Bucket=bucket)
    client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "someone-elses-key"}}]})
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "by-hand", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 30}}]})
    backends.catalog.client.delete_table(TableName=backends.catalog.tables["meta"])

    code, report = _check(runner)
    assert code == 1 and not report["clean"]
    bad = {c["setting"]: c for c in report["checks"] if not c["ok"]}
    assert bad["Block Public Access"]["actual"] == "off: IgnorePublicAcls, RestrictPublicBuckets"
    assert bad["Object Ownership"]["actual"] == "not set"
    assert bad["Default encryption"]["actual"] == "SSE-KMS with key someone-elses-key"
    assert bad["Default encryption"]["expected"] == "SSE-S3 (AES256)"
    assert bad["Lifecycle"]["actual"] == "no rule aborts incomplete multipart uploads"
    assert bad["Resumable upload tails"]["actual"] == "never expire"
    assert bad[f"table {app.config['TABLE_PREFIX']}meta"]["actual"] == "missing"
    assert bad["migrations"]["actual"].startswith("pending: 0001_schema")
    # moto refuses plain-http requests once the TLS-only policy is on, so init leaves it out there,
    # and the check says so instead of failing
    policy = {c["setting"]: c for c in report["checks"]}["TLS-only policy"]
    assert policy["ok"] and "plain http" in policy["note"]
    # --check changed nothing
    with pytest.raises(client.exceptions.ClientError):
        client.get_bucket_ownership_controls(Bucket=bucket)

    table = runner.invoke(args=["momento", "init", "--check"])
    assert table.exit_code == 1 and "DIFFERS" in table.output and "differ from what" in table.output

    fixed = runner.invoke(args=["momento", "init"])
    assert fixed.exit_code == 0, fixed.output
    code, report = _check(runner)
    assert code == 0 and report["clean"], [c for c in report["checks"] if not c["ok"]]


@pytest.mark.aws
@pytest.mark.parametrize("app", ["aws"], indirect=True)
def test_check_on_a_missing_bucket(app, runner, backends):
    app.extensions["momento"].storage.bucket = app.config["BUCKET"] + "-never-made"
    code, report = _check(runner)
    assert code == 1
    assert report["checks"][0] == {"setting": "bucket", "expected": f"{app.config['BUCKET']}-never-made exists",
                                   "actual": "missing", "ok": False, "note": ""}


def test_posture_reads_a_tls_policy_on_https_endpoints():
    """Over https, init applies the TLS-only policy, and the check recognises it (or its absence)."""
    from momento.storage.s3 import S3Storage
    from momento.storage.s3_posture import bucket_posture

    class Client:
        class meta:
            endpoint_url, partition = "https://s3.eu-west-1.amazonaws.com", "aws"

        def __init__(self, policy):
            self.policy = policy

        def __getattr__(self, name):  # the put_* calls create() would make; never called here
            return None

        def get_public_access_block(self, Bucket):
            return {"PublicAccessBlockConfiguration": dict.fromkeys(
                ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)}

        def get_bucket_ownership_controls(self, Bucket):
            return {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}}

        def get_bucket_encryption(self, Bucket):
            return {"ServerSideEncryptionConfiguration": {"Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}}

        def get_bucket_lifecycle_configuration(self, Bucket):
            return {"Rules": [{"ID": "x", "Status": "Enabled", "Filter": {},
                               "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3}},
                              {"ID": "y", "Status": "Enabled", "Prefix": "tus/", "Expiration": {"Days": 30}}]}

        def get_bucket_policy(self, Bucket):
            return {"Policy": self.policy}

    storage = S3Storage("momento-uploads")
    applied = {what: kwargs for what, _, kwargs in storage._settings(Client(None))}
    # the same statement written by hand: one-element lists as strings, resources in another order
    [statement] = json.loads(applied["set the policy"]["Policy"])["Statement"]
    statement["Resource"] = list(reversed(statement["Resource"]))
    by_hand = json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, statement]})
    checks = bucket_posture(Client(by_hand), "momento-uploads", applied)
    assert all(c.ok for c in checks), checks
    assert checks[3].actual == "aborted after 3 days" and checks[4].actual == "expire after 30 days"
    other = json.dumps({"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]})
    policy = bucket_posture(Client(other), "momento-uploads", applied)[5]
    assert not policy.ok and policy.actual == "the policy lacks the TLS rule"


def test_local_folder_closed_to_other_users(app, runner):
    objects = os.path.join(app.config["DATA_DIR"], "objects")
    assert runner.invoke(args=["momento", "init"]).exit_code == 0  # (the app's start made the folders)
    os.chmod(objects, 0o777)
    code, report = _check(runner)
    assert code == 1
    [bad] = [c for c in report["checks"] if not c["ok"]]
    assert bad["setting"] == f"folder {objects}" and bad["actual"] == "writable, mode 777"
    assert runner.invoke(args=["momento", "init"]).exit_code == 0
    assert os.stat(objects).st_mode & 0o777 == 0o770
    assert _check(runner)[0] == 0


def test_every_operator_command_has_help(runner):
    for args in (["momento", "init"], ["momento", "migrate"], ["momento", "stats"], ["momento", "verify"],
                 ["momento", "purge"], ["momento", "import"], ["momento", "iam-policy"], ["users", "delete"],
                 ["users", "list"]):
        result = runner.invoke(args=args + ["--help"])
        assert result.exit_code == 0 and "Usage" in result.output, args
        assert "--json" in result.output or args[1] == "iam-policy", args  # iam-policy prints JSON anyway
