"""The visitor's side of a share link: /s/<token> (page, password step, items, media), no account needed.

Nothing here names the owner or the place: items carry no filename, location or camera, photos go out as
display copies, originals only when the owner allowed downloads. Every answer is noindex and sends no
Referer (the token is in the URL). serve_item() is the one place share media leave the server.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, make_response, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address

from ..accounts import audit
from . import limits
from ..formats import in_words
from ..backends import catalog, storage
from ..errors import NotFound, Unauthorized
from ..extensions import limiter
from ..models import VIDEO, Share, Upload
from ..sharing.display import DISPLAY_MIME, ensure_display
from ..sharing.shares import open_share, password_ok, share_items, share_title, shared_upload
from .media import serve_object
from .security import MEDIA_CSP

bp = Blueprint("shared", __name__, url_prefix="/s")
UNLOCKED = "shares_unlocked"  # session key: ids of the shares this browser gave the password of
VARIANTS = ("thumbnail", "display", "playback", "original")
ITEMS_PAGE = 60


def _limit(key: str) -> str:
    """A rate setting of the current app."""
    return current_app.config[key]


def _link_key() -> str:
    """The link a password guess is for (its token), so guesses count per link."""
    return (request.view_args or {}).get("token", "")[:100]


def _wrong_password(response) -> bool:
    """Only wrong passwords count towards a pause."""
    return response.status_code == 401


def _paused(_limit_hit):
    """The password step again, saying that guesses are paused for a while."""
    message = f"Too many wrong passwords. For the owner's safety, try again in {in_words(limits.current_retry_after())}."
    return make_response(render_template("share.html", token=_link_key(), title="Password needed", locked=True,
                                         error=message), 429)


visits = limiter.shared_limit(lambda: _limit("SHARE_LIMIT"), "share-visit", key_func=get_remote_address)
guesses = limiter.shared_limit(lambda: _limit("SHARE_PASSWORD_LIMIT"), "share-password-link", key_func=_link_key,
                               methods=["POST"], deduct_when=_wrong_password, on_breach=_paused)
address_guesses = limiter.shared_limit(lambda: _limit("SHARE_PASSWORD_ADDRESS_LIMIT"), "share-password-address",
                                       key_func=get_remote_address, methods=["POST"], deduct_when=_wrong_password,
                                       on_breach=_paused)


@bp.after_request
def private_answers(response):
    """No search engine keeps a share, no link from it tells another site its address, no cache outlives it."""
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _share(token: str) -> Share:
    """The open share this token names (404 / 410 otherwise)."""
    return open_share(catalog(), token)


def _unlocked(share: Share) -> bool:
    """Whether this browser may look: no password, or it gave the password in this session."""
    return share.password_hash is None or share.id in session.get(UNLOCKED, [])


@bp.get("/<token>")
@visits
def view(token: str):
    """The shared grid and viewer, or the password step first."""
    share = _share(token)
    if not _unlocked(share):
        return render_template("share.html", token=token, title="Password needed", locked=True, error=None)
    catalog().count_share_view(share.token_hash)
    page = share_items(catalog(), share, limit=ITEMS_PAGE, cursor=None)
    return render_template("share.html", token=token, share=share, title=share_title(catalog(), share), locked=False,
                           items=[item_json(token, share, u) for u in page.items], next_cursor=page.next_cursor)


@bp.post("/<token>")
@visits
@guesses
@address_guesses
def unlock(token: str):
    """The password step: right, and this browser may look; wrong, and the guess counts."""
    share = _share(token)
    if not password_ok(share, request.form.get("password")):
        return render_template("share.html", token=token, title="Password needed", locked=True,
                               error="That password is not right."), 401
    session[UNLOCKED] = ([i for i in session.get(UNLOCKED, []) if i != share.id] + [share.id])[-50:]
    audit.record(catalog(), share.user_id, "share_unlocked", ip=request.remote_addr,
                 user_agent=request.user_agent.string, share_id=share.id)
    return redirect(url_for("shared.view", token=token), 303)


@bp.get("/<token>/items")
@visits
def items(token: str):
    """A page of the share's items as JSON."""
    share = _share(token)
    if not _unlocked(share):
        raise Unauthorized("This link needs its password.", code="password_required")
    page = share_items(catalog(), share, limit=ITEMS_PAGE, cursor=request.args.get("cursor"))
    return jsonify({"title": share_title(catalog(), share), "items": [item_json(token, share, u) for u in page.items],
                    "next_cursor": page.next_cursor})


@bp.route("/<token>/media/<upload_id>/<variant>", methods=["GET", "HEAD"])
@visits
def media(token: str, upload_id: str, variant: str):
    """One item's bytes, only through a share that shows it now."""
    share = _share(token)
    if not _unlocked(share):
        raise Unauthorized("This link needs its password.", code="password_required")
    if variant not in VARIANTS:
        raise NotFound("No such file.")
    return serve_item(share, shared_upload(catalog(), share, upload_id), variant)


def playable_original(share: Share, upload: Upload) -> bool:
    """A video without a rendition plays from its original only when that gives nothing away: the owner allowed
    downloads, or the video is browser-ready and carries no location."""
    return share.allow_download or (upload.rendition == "none" and not upload.gps)


def serve_item(share: Share, upload: Upload, variant: str):
    """The one place share media are answered (presigned delivery can redirect here later)."""
    name = f"{upload.id}"
    if variant == "thumbnail" or (variant == "display" and upload.kind == VIDEO):
        key, mime, name = upload.thumb_key, upload.thumb_mime, f"{name}.{upload.thumb_ext}"
    elif variant == "display":
        key, mime, name = ensure_display(storage(), upload), DISPLAY_MIME, f"{name}.jpg"
    elif variant == "playback" and upload.kind == VIDEO and upload.rendition == "ready":
        key, mime, name = upload.playback_key, "video/mp4", f"{name}.mp4"
    elif variant == "playback" and upload.kind == VIDEO and playable_original(share, upload):
        key, mime, name = upload.original_key, upload.mime, f"{name}.{upload.ext}"
    elif variant == "original" and share.allow_download:
        key, mime, name = upload.original_key, upload.mime, f"{name}.{upload.ext}"
    else:
        raise NotFound("No such file in this share.")
    attachment = variant == "original" and request.args.get("download") == "1"
    response = serve_object(key, mime, f'{"attachment" if attachment else "inline"}; filename="{name}"')
    response.headers["Content-Security-Policy"] = MEDIA_CSP
    return response


def item_json(token: str, share: Share, upload: Upload) -> dict:
    """An item as a visitor sees it: no filename, location, camera, tags or owner."""
    def url(variant: str) -> str:
        return url_for("shared.media", token=token, upload_id=upload.id, variant=variant)

    urls = {"thumbnail": url("thumbnail"), "display": url("display")}
    if upload.kind == VIDEO and (upload.rendition == "ready" or playable_original(share, upload)):
        urls["playback"] = url("playback")
    if share.allow_download:
        urls["original"] = url("original")
    return {"id": upload.id, "kind": upload.kind, "width": upload.width, "height": upload.height,
            "taken_at": upload.taken_at, "duration": upload.duration, "urls": urls}

