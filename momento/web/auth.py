"""Sign-in for people (server sessions behind the cookie) and scripts (scoped Bearer tokens): pages, token API,
the scope and CSRF checks."""
from __future__ import annotations

from flask import (Blueprint, current_app, flash, g, jsonify, make_response, redirect, render_template, request,
                   session, url_for)
from flask_login import current_user, login_required
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from .. import accounts
from ..accounts import audit, tokens, twofactor
from ..backends import catalog
from ..errors import BadRequest, EmailTaken, MomentoError, NotFound, RateLimited, Unauthorized
from ..extensions import csrf, login_manager
from . import limits
from .errors import error_response
from .library import PageForm, owner
from .scopes import ANY_TOKEN, SESSION_ONLY, any_token, scope_for, session_only
from .serialize import user_json
from .signin import (PENDING, SessionUser, begin_second_step, end_session, load_user, pending_user, safe_next,
                     start_session)

bp = Blueprint("auth", __name__)

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


class LoginForm(PageForm):
    """Email and password."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    remember = BooleanField("Keep me signed in")


class CodeForm(PageForm):
    """The second step: a code from the authenticator app, or a recovery code."""

    code = StringField("Code from your authenticator app", validators=[DataRequired(), Length(max=64)])


class RegisterForm(PageForm):
    """A new account."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=accounts.MIN_PASSWORD, max=1024)])
    confirm = PasswordField("Repeat the password", validators=[DataRequired(), EqualTo("password", "The passwords differ.")])


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def init_app(app) -> None:
    """Wire flask-login (server sessions), Bearer tokens with their scopes, and CSRF into the app."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see your photos."
    login_manager.user_loader(load_user)
    csrf.init_app(app)

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
            return _authenticate_token(token)
        if request.method in UNSAFE and _needs_csrf():
            _check_csrf()
        return None


def _authenticate_token(secret: str):
    """Sign the request in with its token (the session cookie, if any, is ignored) and check the route's scope."""
    found = tokens.authenticate(catalog(), secret)
    if found is None:
        return error_response(401, "invalid_token", "The API token is not valid.")
    user, token = found
    g.api_token = token
    login_manager._update_request_context_with_user(SessionUser(user))
    needed = scope_for(current_app.view_functions.get(request.endpoint), request.method, request.path)
    if needed == SESSION_ONLY:
        return error_response(403, "session_only", "API tokens cannot manage tokens, sessions, the password or "
                                                   "two-factor sign-in: do that signed in on the web.")
    if needed != ANY_TOKEN and needed not in token.scopes:
        return error_response(403, "insufficient_scope", f"This API token lacks the {needed!r} scope.")
    return None


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
    if request.routing_exception is not None:  # no such route or method: its 404/405 says more, and changes nothing
        return False
    return current_user.is_authenticated or not request.path.startswith("/api/")


# Creating a token proves the password itself; no cookie is involved.
_CSRF_EXEMPT = {"auth.create_token"}


def _audit_failed_sign_in(email, exc: Unauthorized, via: str) -> None:
    """Failed sign-ins are recorded for accounts that exist (nobody else has an activity page)."""
    email = email.strip().lower() if isinstance(email, str) else ""
    user = catalog().get_user_by_email(email) if 0 < len(email) <= 254 else None
    if user is not None:
        audit.record_request(catalog(), user, "sign_in_failed", via=via, reason=exc.code)


def _page(template: str, status: int, **context):
    """A sign-in page with a status (and Retry-After when sign-in is paused)."""
    response = make_response(render_template(template, **context), status)
    if context.get("retry_after"):
        response.headers["Retry-After"] = str(context["retry_after"])
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in page: email and password, then (when two-factor is on) a code in a second step."""
    if current_user.is_authenticated:
        return redirect(url_for("pages.gallery"))
    _forms_only()
    form = LoginForm()
    if not form.validate_on_submit():
        return _page("login.html", 400 if request.method == "POST" else 200, form=form, error=None)
    try:
        attempt = limits.count_sign_in(form.email.data)
    except RateLimited as exc:
        return _page("login.html", 429, form=form, error=exc.message, retry_after=exc.retry_after)
    try:
        user = accounts.authenticate(catalog(), form.email.data, form.password.data)
    except Unauthorized as exc:
        _audit_failed_sign_in(form.email.data, exc, "page")
        return _page("login.html", 401, form=form, error=exc.message)
    next_url = safe_next(request.args.get("next"))
    if user.totp_secret:
        begin_second_step(user, form.remember.data, next_url)
        return redirect(url_for("auth.login_code"))
    attempt.give_back()
    start_session(user, form.remember.data)
    audit.record_request(catalog(), user, "sign_in", via="page")
    return redirect(next_url)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    """The second step of signing in: a code from the authenticator app, or a recovery code."""
    found = pending_user()
    if found is None:
        flash("Sign in with your email and password first.")
        return redirect(url_for("auth.login"))
    user, pending = found
    form = CodeForm()
    if not form.validate_on_submit():
        return _page("login_code.html", 400 if request.method == "POST" else 200, form=form, error=None)
    try:
        attempt = limits.count_sign_in(user.email)
    except RateLimited as exc:
        return _page("login_code.html", 429, form=form, error=exc.message, retry_after=exc.retry_after)
    if not twofactor.verify(catalog(), user, form.code.data):
        audit.record_request(catalog(), user, "sign_in_failed", via="page", reason="wrong_code")
        return _page("login_code.html", 401, form=form, error="That code is not right. Try the newest code.")
    attempt.give_back()
    session.pop(PENDING, None)
    start_session(user, pending.get("remember", False))
    audit.record_request(catalog(), user, "sign_in", via="page", second_step="code")
    return redirect(safe_next(pending.get("next")))


@bp.route("/register", methods=["GET", "POST"])
def register():
    """The sign-up page (accounts created per address are limited)."""
    if not current_app.config["OPEN_REGISTRATION"]:
        return render_template("error.html", status=403, code="registration_closed",
                               message="This server does not accept new accounts. Ask its operator for one."), 403
    _forms_only()
    form = RegisterForm()
    error = None
    if form.validate_on_submit():
        try:
            attempt = limits.count_registration()
        except RateLimited as exc:
            return _page("register.html", 429, form=form, error=exc.message, retry_after=exc.retry_after)
        try:
            user = accounts.register(catalog(), form.email.data, form.password.data)
        except EmailTaken as exc:  # kept counted: asking which emails have accounts spends the budget
            error = exc.message
        except BadRequest as exc:
            attempt.give_back()
            error = exc.message
        else:
            start_session(user, False)
            audit.record_request(catalog(), user, "account_created", via="page")
            flash("Welcome to Momento. Upload your first photos.")
            return redirect(url_for("pages.upload"))
    status = 400 if (error or form.errors) and request.method == "POST" else 200
    return render_template("register.html", form=form, error=error), status


@bp.get("/logout")
def logout_page():
    """A typed or bookmarked /logout: a button that signs out (a GET never does, so a link from another site
    cannot); the sign-in page for someone already signed out."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return render_template("logout.html")


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out (a POST, so another site cannot sign people out); the server forgets the session."""
    audit.record_request(catalog(), owner(), "sign_out")
    end_session()
    flash("You are signed out.")
    return redirect(url_for("auth.login"))


def _forms_only() -> None:
    """The pages take form posts; Flask-WTF would read a JSON body as the form and crash on a list or a string."""
    if request.method == "POST" and request.is_json:
        raise BadRequest("Sign in with the form on this page, or ask for a token at /api/v1/auth/token.",
                         code="form_expected")


@bp.route("/api/v1/auth/token", methods=["POST"])
@any_token  # the password is the credential here, not a token the request may carry
def create_token():
    """Exchange email, password (and the two-factor code) for a named, scoped API token."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("email"), str) or not isinstance(body.get("password"), str):
        raise BadRequest('Send JSON {"email": "...", "password": "..."}.', code="invalid_body")
    # Bad options are refused before anything is counted or checked.
    tokens.parse_name(body.get("name")), tokens.parse_scopes(body.get("scopes")), tokens.parse_days(body.get("expires_in_days"))
    attempt = limits.count_sign_in(body["email"])
    try:
        user = accounts.authenticate(catalog(), body["email"], body["password"])
        twofactor.require(catalog(), user, body.get("otp"))
    except Unauthorized as exc:
        _audit_failed_sign_in(body["email"], exc, "api")
        raise
    attempt.give_back()
    secret, token = tokens.issue(catalog(), user, name=body.get("name"), scopes=body.get("scopes"),
                                 expires_in_days=body.get("expires_in_days"))
    audit.record_request(catalog(), user, "token_created", via="api", name=token.name, scopes=list(token.scopes))
    return jsonify({"token": secret, "id": token.id, "name": token.name, "scopes": list(token.scopes),
                    "expires_at": token.expires_at, "user": user_json(user)}), 201


@bp.route("/api/v1/auth/token", methods=["DELETE"])
@any_token
def revoke_token():
    """Revoke the token this request was made with (a token may always end itself)."""
    secret = _bearer_token()
    if not secret:
        raise Unauthorized("Send the token to revoke as 'Authorization: Bearer <token>'.", code="unauthorized")
    token = g.get("api_token")
    tokens.revoke(catalog(), secret)
    if current_user.is_authenticated:
        audit.record_request(catalog(), owner(), "token_revoked", via="api", name=token.name if token else None)
    return "", 204


@bp.get("/api/v1/auth/tokens")
@session_only
@login_required
def list_tokens():
    """The signed-in account's tokens, without their secrets."""
    return jsonify({"items": [tokens.to_json(t) for t in catalog().list_tokens(owner().id)]})


@bp.delete("/api/v1/auth/tokens/<token_id>")
@session_only
@login_required
def delete_token(token_id: str):
    """Revoke one of the account's tokens at once."""
    found = next((t for t in catalog().list_tokens(owner().id) if t.id == token_id), None)
    if found is None or not catalog().delete_token(owner().id, token_id):
        raise NotFound("No such token.")
    audit.record_request(catalog(), owner(), "token_revoked", via="page", name=found.name)
    return "", 204


__all__ = ["bp", "init_app", "owner", "SessionUser", "MomentoError"]
