"""Reading a bucket's protections back and comparing them with what S3Storage.create() applies."""
from __future__ import annotations

import json
from typing import Any, Callable, Optional

from botocore.exceptions import ClientError

from ..models import PostureCheck

PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def bucket_posture(client: Any, bucket: str, wanted: dict[str, dict[str, Any]]) -> list[PostureCheck]:
    """One check per protection; `wanted` maps create()'s step names to the arguments it would send."""
    read = _reader(bucket)
    return [
        _public_access(read(client.get_public_access_block), wanted["block public access"]),
        _ownership(read(client.get_bucket_ownership_controls), wanted["set ownership"]),
        _encryption(read(client.get_bucket_encryption), wanted["set encryption"]),
        *_lifecycle(read(client.get_bucket_lifecycle_configuration), wanted["set the lifecycle"]),
        _policy(read, client, wanted.get("set the policy")),
    ]


def _reader(bucket: str) -> Callable[[Any], Optional[dict[str, Any]]]:
    def read(call: Any) -> Optional[dict[str, Any]]:
        """A bucket setting, or None when it was never set (S3 answers NoSuch... or ...NotFound...)."""
        try:
            return call(Bucket=bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code.startswith("NoSuch") or "NotFound" in code:
                return None
            raise
    return read


def _public_access(answer: Optional[dict], wanted: dict[str, Any]) -> PostureCheck:
    flags = (answer or {}).get("PublicAccessBlockConfiguration", {})
    off = [f for f in PUBLIC_ACCESS_FLAGS if not flags.get(f)]
    actual = "not set" if answer is None else ("all four on" if not off else "off: " + ", ".join(off))
    return PostureCheck("Block Public Access", "all four on", actual, flags == wanted["PublicAccessBlockConfiguration"])


def _ownership(answer: Optional[dict], wanted: dict[str, Any]) -> PostureCheck:
    rules = (answer or {}).get("OwnershipControls", {}).get("Rules", [])
    want = wanted["OwnershipControls"]["Rules"]
    actual = ", ".join(r.get("ObjectOwnership", "?") for r in rules) or "not set"
    return PostureCheck("Object Ownership", want[0]["ObjectOwnership"], actual, rules == want)


def _describe_sse(rule: dict[str, Any]) -> str:
    if rule.get("SSEAlgorithm") == "aws:kms":
        return f"SSE-KMS with key {rule.get('KMSMasterKeyID') or '(the AWS managed key)'}"
    return {"AES256": "SSE-S3 (AES256)"}.get(rule.get("SSEAlgorithm"), rule.get("SSEAlgorithm") or "not set")


def _encryption(answer: Optional[dict], wanted: dict[str, Any]) -> PostureCheck:
    rules = (answer or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    want = wanted["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    have = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
    # A key may be named by id or by ARN; an ARN ending in the configured id is the same key.
    key = want.get("KMSMasterKeyID")
    same_key = not key or str(have.get("KMSMasterKeyID", "")).endswith(key.rpartition("/")[2])
    ok = have.get("SSEAlgorithm") == want["SSEAlgorithm"] and same_key
    return PostureCheck("Default encryption", _describe_sse(want), _describe_sse(have), ok)


def _rule_prefix(rule: dict[str, Any]) -> str:
    """What a lifecycle rule is limited to ("" when it covers the whole bucket)."""
    flt = rule.get("Filter") or {}
    both = flt.get("And") or {}
    if "Tag" in flt or both.get("Tags"):
        return "tagged objects"
    return flt.get("Prefix") or both.get("Prefix") or rule.get("Prefix") or ""


def _lifecycle(answer: Optional[dict], wanted: dict[str, Any]) -> list[PostureCheck]:
    abort, tails = wanted["LifecycleConfiguration"]["Rules"]
    rules = [r for r in (answer or {}).get("Rules", []) if r.get("Status") == "Enabled"]
    days = abort["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
    found = [r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] for r in rules
             if "AbortIncompleteMultipartUpload" in r and not _rule_prefix(r)]
    expected = f"incomplete multipart uploads aborted after {days} days"
    if not found:
        checks = [PostureCheck("Lifecycle", expected, "no rule aborts incomplete multipart uploads", False)]
    else:
        checks = [PostureCheck("Lifecycle", expected, f"aborted after {min(found)} days", min(found) <= days)]
    # the tails of resumable uploads, which the web role may not delete: a rule that expires them in time
    prefix, tail_days = tails["Filter"]["Prefix"], tails["Expiration"]["Days"]
    expires = [r["Expiration"]["Days"] for r in rules if "Days" in r.get("Expiration", {})
               and _rule_prefix(r) in ("", prefix)]
    expected = f"objects under {prefix} expire after {tail_days} days"
    actual = f"expire after {min(expires)} days" if expires else "never expire"
    # Sooner would remove the tail of an upload still allowed to resume; much later only costs a little.
    checks.append(PostureCheck("Resumable upload tails", expected, actual, bool(expires) and min(expires) >= tail_days))
    return checks


def _policy(read: Callable, client: Any, wanted: Optional[dict[str, Any]]) -> PostureCheck:
    expected = "a bucket policy denies requests without TLS"
    if wanted is None:
        # create() leaves the policy out over plain http (moto, local stand-ins): it would refuse Momento itself.
        return PostureCheck("TLS-only policy", expected, "not applicable", True,
                            note=f"{client.meta.endpoint_url} is plain http; init applies this policy on https "
                                 "endpoints only")
    answer = read(client.get_bucket_policy)
    statements = json.loads(answer["Policy"]).get("Statement", []) if answer else []
    if isinstance(statements, dict):
        statements = [statements]
    want = json.loads(wanted["Policy"])["Statement"][0]
    ok = any(all(_same(st.get(k), want[k]) for k in ("Effect", "Action", "Resource", "Condition"))
             for st in statements)
    actual = "present" if ok else ("no bucket policy" if answer is None else "the policy lacks the TLS rule")
    return PostureCheck("TLS-only policy", expected, actual, ok)


def _same(a: Any, b: Any) -> bool:
    """Policy values equal up to order, and a list of one equal to its single value."""
    def norm(v: Any) -> Any:
        if isinstance(v, list):
            return norm(v[0]) if len(v) == 1 else sorted(json.dumps(norm(x), sort_keys=True) for x in v)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        return v
    return norm(a) == norm(b)
