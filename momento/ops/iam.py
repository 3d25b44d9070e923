"""Least-privilege IAM policies for Momento's roles, built from the configured bucket, tables and KMS key.

- web: what the web server (and the rendition worker) does: put and get objects under `user-*/`, read and
  write the catalog, never delete an object or an upload record, never scan or drop a table.
- admin: web, plus what init, migrate, verify and purge need (deleting objects and records, bucket and
  table set-up, batch index rebuilds, the migrations item).
- uploader / reader: one half each of the object permissions, for deployments that split writing and reading
  (MOMENTO_UPLOADER_* / MOMENTO_READER_*): the web server then holds three keys, and its own (web) key has no
  object permission at all, so that no single leaked key can both read and overwrite photos.
"""
from __future__ import annotations

from ..errors import BadRequest

ROLES = ("web", "admin", "uploader", "reader")
TABLES = ("users", "uploads", "index", "meta")


class Names:
    """ARNs of the configured resources."""

    def __init__(self, bucket: str, table_prefix: str, kms_key_id: str | None = None, *,
                 region: str = "*", account: str = "*", partition: str = "aws"):
        self.bucket = f"arn:{partition}:s3:::{bucket}"
        self.objects = f"{self.bucket}/user-*"
        self.resumable = f"{self.bucket}/tus/*"  # tails of resumable uploads between two PATCHes
        self.table = {t: f"arn:{partition}:dynamodb:{region}:{account}:table/{table_prefix}{t}" for t in TABLES}
        self.kms_key = None
        if kms_key_id:
            if kms_key_id.startswith("alias/") or ":alias/" in kms_key_id:
                raise BadRequest("Name the KMS key by its id or ARN (IAM cannot grant Decrypt through an alias).",
                                 code="kms_alias")
            self.kms_key = kms_key_id if kms_key_id.startswith("arn:") else \
                f"arn:{partition}:kms:{region}:{account}:key/{kms_key_id}"


def _allow(sid: str, actions: list[str], resources: list[str] | str) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}


def _kms(names: Names, actions: list[str]) -> list[dict]:
    return [_allow("UseTheBucketKey", actions, names.kms_key)] if names.kms_key else []


OBJECT_READS = ["s3:GetObject"]
OBJECT_WRITES = ["s3:PutObject", "s3:AbortMultipartUpload"]


def web_statements(n: Names, split_objects: bool = False) -> list[dict]:
    """The web server's permissions; with split_objects, its objects are the uploader's and reader's business."""
    t = n.table
    objects = [] if split_objects else [
        _allow("ObjectsUnderUserPrefixes", OBJECT_READS + OBJECT_WRITES, n.objects),
        _allow("ResumableUploadTails", ["s3:GetObject", "s3:PutObject"], n.resumable),
        *_kms(n, ["kms:GenerateDataKey", "kms:Decrypt"]),
    ]
    never = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket", "s3:PutBucketPolicy"]
    return [
        *objects,
        # HeadBucket (/healthz) is authorised as ListBucket, and without it a missing object answers 403, not 404
        _allow("ReachTheBucket", ["s3:ListBucket"], n.bucket),
        _allow("Accounts", ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                            "dynamodb:DeleteItem"], t["users"]),  # DeleteItem: ended sessions, revoked tokens
        _allow("UploadRecords", ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:PutItem",
                                 "dynamodb:UpdateItem", "dynamodb:DescribeTable"], t["uploads"]),
        _allow("IndexAndJobs", ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:PutItem",
                                "dynamodb:ConditionCheckItem",
                                "dynamodb:UpdateItem", "dynamodb:DeleteItem"], t["index"]),  # stale index entries
        # Spelled out so that no policy attached later can widen the web role into deleting or scanning.
        {"Sid": "NeverDeleteObjectsOrUploadRecords", "Effect": "Deny",
         "Action": never + ["dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
         "Resource": [n.bucket, f"{n.bucket}/*", t["uploads"]]},
        *([{"Sid": "ObjectsGoThroughTheUploaderAndReader", "Effect": "Deny", "Action": OBJECT_READS + OBJECT_WRITES,
            "Resource": f"{n.bucket}/*"}] if split_objects else []),
        {"Sid": "NeverScanOrDropTables", "Effect": "Deny", "Action": ["dynamodb:Scan", "dynamodb:DeleteTable"],
         "Resource": list(t.values())},
    ]


def admin_statements(n: Names) -> list[dict]:
    """The web permissions (without its denials) and what init, migrate, verify and purge add."""
    t = n.table
    return [s for s in web_statements(n) if s["Effect"] == "Allow"] + [
        _allow("PurgeAndRepairObjects", ["s3:DeleteObject"], n.objects),
        _allow("BucketSetUp", ["s3:CreateBucket", "s3:GetBucketPolicy", "s3:PutBucketPolicy",
                               "s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock",
                               "s3:GetBucketOwnershipControls", "s3:PutBucketOwnershipControls",
                               "s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration",
                               "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"], n.bucket),
        _allow("TableSetUp", ["dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTimeToLive",
                              "dynamodb:DescribeTimeToLive"], list(t.values())),
        _allow("PurgeRecords", ["dynamodb:DeleteItem"], t["uploads"]),
        _allow("ListAccounts", ["dynamodb:BatchGetItem"], t["users"]),
        _allow("RebuildIndex", ["dynamodb:BatchWriteItem"], t["index"]),
        _allow("Migrations", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], t["meta"]),
        {"Sid": "NeverScanOrDropTables", "Effect": "Deny", "Action": ["dynamodb:Scan", "dynamodb:DeleteTable"],
         "Resource": list(t.values())},
    ]


def uploader_statements(n: Names) -> list[dict]:
    """Writing objects only (photos, videos, thumbnails, resumable tails): a leaked key cannot read anyone's photos."""
    return [_allow("WriteObjectsOnly", OBJECT_WRITES, [n.objects, n.resumable]),
            *_kms(n, ["kms:GenerateDataKey", "kms:Decrypt"])]  # multipart uploads with SSE-KMS need Decrypt


def reader_statements(n: Names) -> list[dict]:
    """Reading objects only: a leaked key cannot overwrite them."""
    return [_allow("ReadObjectsOnly", OBJECT_READS, [n.objects, n.resumable]),
            # without it S3 answers 403 rather than 404 for a missing object; it shows key names, never bytes
            _allow("TellMissingFromForbidden", ["s3:ListBucket"], n.bucket),
            *_kms(n, ["kms:Decrypt"])]


def iam_policy(role: str, names: Names, *, split_objects: bool = False) -> dict:
    """The IAM policy document for a role (web without object permissions when the deployment splits them)."""
    builders = {"web": lambda n: web_statements(n, split_objects), "admin": admin_statements,
                "uploader": uploader_statements, "reader": reader_statements}
    if role not in builders:
        raise BadRequest(f"The role is one of {', '.join(ROLES)}.", code="unknown_role")
    return {"Version": "2012-10-17", "Statement": builders[role](names)}
