"""Sign-in for people (session cookie) and scripts (Bearer tokens): pages, token API, CSRF rules."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, jsonify, make_response, redirect, render_template, request, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from .. import accounts
from ..accounts import audit
from . import limits
from ..backends import catalog
from ..errors import BadRequest, EmailTaken, MomentoError, Unauthorized
from ..extensions import csrf, limiter, login_manager
from ..models import User
from .errors import error_response
from .library import owner
from .serialize import user_json

bp = Blueprint("auth", __name__)

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


class SessionUser(UserMixin):
    """flask-login's view of a Momento account."""

    def __init__(self, user: User):
        self.user = user
        self.id = user.id

    @property
    def is_active(self) -> bool:
        return not self.user.disabled


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField("Keep me signed in")


class RegisterForm(FlaskForm):
    """A new account."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=accounts.MIN_PASSWORD, max=1024)])
    confirm = PasswordField("Repeat the password", validators=[DataRequired(), EqualTo("password", "The passwords differ.")])


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def init_app(app) -> None:
    """Wire flask-login, Bearer tokens and CSRF into the app."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see your photos."
    csrf.init_app(app)

    @login_manager.user_loader
    def load_user(user_id: str):
        user = catalog().get_user(user_id)
        return SessionUser(user) if user and not user.disabled else None

    @login_manager.unauthorized_handler
    def unauthorized():
        if request.path.startswith(("/api/", "/media/")):
            return error_response(401, "unauthorized", "Sign in or send an API token.")
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))

    @app.before_request
    def authenticate_and_check_csrf():
        token = _bearer_token()
        g.via_token = token is not None
        if token is not None:
            user = accounts.user_for_token(catalog(), token)
            if user is None:
                return error_response(401, "invalid_token", "The API token is not valid.")
            # A token speaks for itself: the session cookie, if any, is ignored for this request.
            login_manager._update_request_context_with_user(SessionUser(user))
        elif request.method in UNSAFE and _needs_csrf():
            _check_csrf()


def _check_csrf() -> None:
    """The token from the X-CSRFToken header, else (pages only) from the form.

    The API never falls back to the form: reading it would consume a streamed upload body before the
    receive path sees it, so cookie-authenticated API calls must send the header.
    """
    header = request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token")
    if header is not None:
        try:
            validate_csrf(header)
        except ValidationError as exc:
            raise CSRFError(exc.args[0]) from None
    elif request.path.startswith("/api/"):
        raise CSRFError("The CSRF token is missing.")
    else:
        csrf.protect()


def _needs_csrf() -> bool:
    """Unsafe requests riding on the session cookie need the token; anonymous API calls get a 401 instead."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True) or request.endpoint in _CSRF_EXEMPT:
        return False
    return current_user.is_authenticated or not request.path.startswith("/api/")


# Creating a token proves the password itself; no cookie is involved.
_CSRF_EXEMPT = {"auth.create_token"}


def _lockout_page(_limit):
    """The sign-in page itself, saying how long sign-in is paused (the API gets JSON from web/errors.py)."""
    if request.endpoint != "auth.login":
        return None
    message = limits.lockout_message()
    return make_response(render_template("login.html", form=LoginForm(), error=message), 429)


def signin_limited(view):
    """Failed sign-ins counted per account and per address, page and token API together (momento/limits.py)."""
    common = {"methods": ["POST"], "deduct_when": limits.failed_sign_in, "on_breach": _lockout_page,
              "error_message": limits.lockout_message}
    view = limiter.shared_limit(limits.login_limit, "sign-in-account", key_func=limits.signin_email, **common)(view)
    return limiter.shared_limit(limits.login_address_limit, "sign-in-address", key_func=limits.signin_address,
                                **common)(view)


def _audit_failed_sign_in(email, exc: Unauthorized, via: str) -> None:
    """Failed sign-ins are recorded for accounts that exist (nobody else has an activity page)."""
    email = email.strip().lower() if isinstance(email, str) else ""
    user = catalog().get_user_by_email(email) if 0 < len(email) <= 254 else None
    if user is not None:
        audit.record_request(catalog(), user, "sign_in_failed", via=via, reason=exc.code)


@bp.route("/login", methods=["GET", "POST"])
@signin_limited
def login():
    """The sign-in page."""
    if current_user.is_authenticated:
        return redirect(url_for("pages.gallery"))
    _forms_only()
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(catalog(), form.email.data, form.password.data)
        except Unauthorized as exc:
            error = exc.message
            _audit_failed_sign_in(form.email.data, exc, "page")
        else:
            login_user(SessionUser(user), remember=form.remember.data)
            audit.record_request(catalog(), user, "sign_in", via="page")
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if error else 400 if request.method == "POST" else 200
    return render_template("login.html", form=form, error=error), status


@bp.route("/register", methods=["GET", "POST"])
def register():
    """The sign-up page."""
    if not current_app.config["OPEN_REGISTRATION"]:
        return render_template("error.html", status=403, code="registration_closed",
                               message="This server does not accept new accounts. Ask its operator for one."), 403
    _forms_only()
    form = RegisterForm()
    error = None
    if form.validate_on_submit():
        try:
            user = accounts.register(catalog(), form.email.data, form.password.data)
        except EmailTaken as exc:
            error = exc.message
        except BadRequest as exc:
            error = exc.message
        else:
            login_user(SessionUser(user))
            audit.record_request(catalog(), user, "account_created", via="page")
            flash("Welcome to Momento. Upload your first photos.")
            return redirect(url_for("pages.upload"))
    status = 400 if (error or form.errors) and request.method == "POST" else 200
    return render_template("register.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out (a POST, so another site cannot sign people out)."""
    audit.record_request(catalog(), owner(), "sign_out")
    logout_user()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


def _forms_only() -> None:
    """The pages take form posts; Flask-WTF would read a JSON body as the form and crash on a list or a string."""
    if request.method == "POST" and request.is_json:
        raise BadRequest("Sign in with the form on this page, or ask for a token at /api/v1/auth/token.",
                         code="form_expected")


def _safe_next(target: str | None) -> str:
    # Only same-site paths: "//evil.example" and "https://…" would leave Momento.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.gallery")


@bp.route("/api/v1/auth/token", methods=["POST"])
@signin_limited
def create_token():
    """Exchange email and password for an API token."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("email"), str) or not isinstance(body.get("password"), str):
        raise BadRequest('Send JSON {"email": "...", "password": "..."}.', code="invalid_body")
    try:
        user = accounts.authenticate(catalog(), body["email"], body["password"])
    except Unauthorized as exc:
        _audit_failed_sign_in(body["email"], exc, "api")
        raise
    token = accounts.issue_token(catalog(), user)
    audit.record_request(catalog(), user, "token_created", via="api")
    return jsonify({"token": token, "user": user_json(user)}), 201


@bp.route("/api/v1/auth/token", methods=["DELETE"])
def revoke_token():
    """Revoke the token this request was made with."""
    token = _bearer_token()
    if not token:
        raise Unauthorized("Send the token to revoke as 'Authorization: Bearer <token>'.", code="unauthorized")
    accounts.revoke_token(catalog(), token)
    if current_user.is_authenticated:
        audit.record_request(catalog(), owner(), "token_revoked", via="api")
    return "", 204


__all__ = ["bp", "init_app", "owner", "SessionUser", "MomentoError"]
