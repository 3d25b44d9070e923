"""`flask momento iam-policy`: the least-privilege IAM policy of a role, for this configuration."""
from __future__ import annotations

import os

import click
from flask import current_app

from ..config import role_configured
from ..errors import MomentoError
from ..ops.iam import ROLES, Names, iam_policy
from . import echo_json, fail, momento_cli


@momento_cli.command("iam-policy")
@click.option("--role", type=click.Choice(ROLES), default="web", show_default=True,
              help="web: the server; admin: init, migrate, verify, purge; uploader/reader: objects, one way only.")
@click.option("--region", default=None, help="Region of the tables (default: AWS_REGION, else any).")
@click.option("--account", default="*", show_default=True, help="AWS account id of the tables and key.")
@click.option("--split-objects/--no-split-objects", default=None,
              help="Whether the server reads and writes objects with separate reader and uploader keys, so that "
                   "the web role gets no object permission (default: whether MOMENTO_UPLOADER_* is set).")
def iam_policy_command(role: str, region: str | None, account: str, split_objects: bool | None):
    """Print the IAM policy JSON for the configured bucket, tables and KMS key."""
    cfg = current_app.config
    if split_objects is None:
        split_objects = role_configured(cfg, "UPLOADER")
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "*"
    try:
        names = Names(cfg["BUCKET"], cfg["TABLE_PREFIX"], cfg.get("KMS_KEY_ID"), region=region, account=account)
        echo_json(iam_policy(role, names, split_objects=split_objects))
    except MomentoError as exc:
        fail(exc.message)
