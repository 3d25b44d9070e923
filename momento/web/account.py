"""The account page: what the signed-in person's account holds, and its activity (the audit trail)."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import login_required

from ..accounts import audit
from ..backends import catalog
from .library import owner, user_quota

bp = Blueprint("account", __name__)

PAGE = 50


@bp.get("/account")
@login_required
def account():
    """Usage against the quota, and the account's activity, newest first."""
    user = owner()
    page = audit.events(catalog(), user.id, limit=PAGE, cursor=request.args.get("cursor"))
    rows = [(event, audit.describe(event)) for event in page.items]
    return render_template("account.html", account=user, usage=catalog().usage(user.id),
                           quota=user_quota(user),
                           events=rows, next_cursor=page.next_cursor)
