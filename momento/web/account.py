"""The account page: usage, where one is signed in, tokens, password, two-factor, passkeys, and activity."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from .. import accounts
from . import limits
from ..accounts import audit, sessions, tokens, twofactor
from ..backends import catalog
from ..errors import MomentoError, NotFound
from .library import PageForm, owner, user_quota
from .signin import current_session, end_session

bp = Blueprint("account", __name__)

PAGE = 50


class PasswordForm(PageForm):
    """Change the password: the current one, and the new one twice."""

    current = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)])
    new = PasswordField("New password", validators=[DataRequired(), Length(min=accounts.MIN_PASSWORD, max=1024)])
    confirm = PasswordField("Repeat the new password", validators=[DataRequired(), EqualTo("new", "The passwords differ.")])


class CodeForm(PageForm):
    """A code from the authenticator app."""

    code = StringField("Code from the app", validators=[DataRequired(), Length(max=64)])


@bp.get("/account")
@login_required
def account():
    """Usage against the quota, sign-in security, and the account's activity, newest first."""
    return account_page()


def account_page(new_token: str | None = None):
    """The account page; `new_token` is a token's secret shown this once (never stored, never in a cookie)."""
    user = owner()
    page = audit.events(catalog(), user.id, limit=PAGE, cursor=request.args.get("cursor"))
    rows = [(event, audit.describe(event)) for event in page.items]
    current = current_session()
    signed_in = [(s, sessions.device(s.user_agent), current is not None and s.id == current.id)
                 for s in sessions.live(catalog(), user.id)]
    return render_template("account.html", account=user, usage=catalog().usage(user.id), quota=user_quota(user),
                           signed_in=signed_in, tokens=catalog().list_tokens(user.id),
                           passkeys=catalog().list_passkeys(user.id), password_form=PasswordForm(prefix="pw"),
                           code_form=CodeForm(), events=rows, next_cursor=page.next_cursor, new_token=new_token,
                           scopes=tokens.SCOPES)


@bp.post("/account/tokens")
@login_required
def make_token():
    """A new API token, named and scoped, shown once on the page."""
    days = (request.form.get("expires_in_days") or "").strip()
    try:
        secret, made = tokens.issue(catalog(), owner(), name=request.form.get("name") or None,
                                    scopes=request.form.getlist("scopes"),
                                    expires_in_days=int(days) if days.isdigit() and len(days) < 6 else days or None)
    except MomentoError as exc:
        flash(exc.message)
        return redirect(url_for("account.account") + "#tokens")
    audit.record_request(catalog(), owner(), "token_created", via="page", name=made.name)
    return account_page(new_token=secret)


@bp.post("/account/password")
@login_required
def change_password():
    """The password form; every other session ends."""
    form = PasswordForm(prefix="pw")
    if not form.validate_on_submit():
        flash(" ".join(f"{form[name].label.text}: {e}" for name, errors in form.errors.items() for e in errors
                       if name in form) or "Fill in every field.")
        return redirect(url_for("account.account") + "#password")
    try:
        with limits.secret_check(owner().email):
            user = accounts.change_password(catalog(), owner(), form.current.data, form.new.data,
                                            keep_session=current_session().id if current_session() else None)
    except MomentoError as exc:
        flash(exc.message)
        return redirect(url_for("account.account") + "#password")
    audit.record_request(catalog(), user, "password_changed", via="page")
    flash("Your password is changed; every other session is signed out.")
    return redirect(url_for("account.account"))


@bp.post("/account/sessions/<session_id>/end")
@login_required
def end_one(session_id: str):
    """Sign one session out."""
    if not sessions.end(catalog(), owner().id, session_id):
        raise NotFound("No such session.")  # another account's, or gone: nothing was signed out
    audit.record_request(catalog(), owner(), "session_ended")
    current = current_session()  # None when a token, not a session, made the request
    if current is not None and session_id == current.id:
        end_session()
        return redirect(url_for("auth.login"))
    flash("That session is signed out.")
    return redirect(url_for("account.account") + "#sessions")


@bp.post("/account/sessions/end-all")
@login_required
def end_all():
    """Sign out everywhere, this browser included."""
    user = owner()
    sessions.end_all(catalog(), user.id)
    audit.record_request(catalog(), user, "signed_out_everywhere")
    end_session()
    flash("You are signed out everywhere.")
    return redirect(url_for("auth.login"))


@bp.post("/account/tokens/<token_id>/revoke")
@login_required
def revoke_token(token_id: str):
    """Revoke one API token."""
    found = next((t for t in catalog().list_tokens(owner().id) if t.id == token_id), None)
    if not found or not catalog().delete_token(owner().id, token_id):
        raise NotFound("No such API token.")
    audit.record_request(catalog(), owner(), "token_revoked", via="page", name=found.name)
    flash(f"The token “{found.name}” stopped working.")
    return redirect(url_for("account.account") + "#tokens")


@bp.route("/account/2fa", methods=["GET", "POST"])
@login_required
def two_factor_setup():
    """Turn two-factor on: a QR code (inline SVG) and the secret, then a code to confirm."""
    user, form = owner(), CodeForm()
    if user.totp_secret:
        return redirect(url_for("account.account") + "#two-factor")
    if request.method == "POST" and not form.validate_on_submit():
        flash("Enter the 6-digit code your authenticator app shows for Momento.")
    elif request.method == "POST":
        try:
            codes = twofactor.confirm(catalog(), user, form.code.data)
        except MomentoError as exc:
            flash(exc.message)
        else:
            audit.record_request(catalog(), user, "two_factor_on", via="page")
            return render_template("recovery_codes.html", codes=codes)
    fresh = catalog().get_user(user.id)
    if fresh.totp_pending:  # the secret already shown (and perhaps scanned) stays until confirmed
        secret, uri = fresh.totp_pending, twofactor.uri(fresh.totp_pending, user.email)
    else:
        try:
            secret, uri = twofactor.begin(catalog(), user)
        except MomentoError as exc:  # turned on meanwhile, in another window
            flash(exc.message)
            return redirect(url_for("account.account") + "#two-factor")
    return render_template("two_factor_setup.html", secret=secret, qr=twofactor.qr_svg(uri), form=form)


@bp.post("/account/2fa/disable")
@login_required
def two_factor_disable():
    """Turn two-factor off with a current code (or a recovery code)."""
    form = CodeForm()
    try:
        with limits.secret_check(owner().email):
            twofactor.disable(catalog(), owner(), form.code.data if form.validate_on_submit() else "")
    except MomentoError as exc:
        flash(exc.message)
    else:
        audit.record_request(catalog(), owner(), "two_factor_off", via="page")
        flash("Two-factor sign-in is off.")
    return redirect(url_for("account.account") + "#two-factor")
