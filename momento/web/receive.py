"""Reading a multipart upload as it arrives, so the pipeline sees each file's bytes before the body ends."""
from __future__ import annotations

from typing import Callable, Optional

from flask import Request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from ..errors import BadRequest, TooLarge
from ..pipeline import IncomingUpload

# The body is read in large pieces (what a server reads from its socket at once, so none is split and copied
# again on the server's side) and fed to the decoder in small ones, which it parses several times faster (its copies
# stay in the processor's cache). Until the file's type is known, and near its size limit, reads are small
# too, so non-media or an oversized file is refused before much more of it is read.
READ = 1024 * 1024
FEED = 64 * 1024
FILE = object()  # marks the file part, so a text field that happens to be named "file" is not taken for it


class ReceivedForm:
    """What a streamed multipart body held: its text fields and the one file, already through feed()."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.upload: Optional[IncomingUpload] = None


def receive(request: Request, start: Callable[[Optional[str]], IncomingUpload], *, max_field_bytes: int,
            max_parts: int) -> ReceivedForm:
    """Parse the body part by part; the `file` part goes to start(filename).feed() as it arrives.

    On any error the upload started so far is aborted before the error leaves this function.
    """
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    if mimetype != "multipart/form-data" or not options.get("boundary"):
        raise BadRequest("Send the file as multipart/form-data with a part named 'file'.", code="not_multipart")
    decoder = MultipartDecoder(options["boundary"].encode("latin-1"), max_field_bytes, max_parts=max_parts)
    form = ReceivedForm()
    try:
        _drive(request, decoder, form, start, max_field_bytes)
    except BaseException:
        if form.upload is not None:
            form.upload.abort()
        raise
    return form


def _drive(request, decoder, form, start, max_field_bytes) -> None:
    read = request.stream.read  # Werkzeug's stream: bounded by Content-Length, a cut-off is ClientDisconnected
    parts = _Parts(decoder, form, start, max_field_bytes)
    if request.content_length == 0:
        return  # no parts at all: the caller says which one is missing
    while not parts.ended:
        try:
            chunk = read(READ if form.upload is not None and form.upload.room > READ else FEED)
        except ClientDisconnected:
            raise BadRequest("The upload was cut off before the end.", code="incomplete_body") from None
        except RequestEntityTooLarge:
            raise TooLarge("The request is larger than this server accepts.", code="request_too_large") from None
        if not chunk:
            parts.take(None)  # None tells the decoder the body is over
            if not parts.ended and parts.part is not None:
                raise BadRequest("The upload was cut off before the end.", code="incomplete_body")
            return
        view = memoryview(chunk)
        for at in range(0, len(chunk), FEED):
            parts.take(view[at:at + FEED])
            if parts.ended:
                break


class _Parts:
    """The decoder's events turned into the form: text fields collected, the file part fed to its upload."""

    def __init__(self, decoder, form: ReceivedForm, start, max_field_bytes: int) -> None:
        self.decoder, self.form, self.start, self.max_field_bytes = decoder, form, start, max_field_bytes
        self.part = None  # the field name being read, or FILE
        self.field = bytearray()
        self.ended = False

    def take(self, data) -> None:
        """Give the decoder the next bytes (None at the end of the body) and act on what it finds."""
        self.decoder.receive_data(data)
        while True:
            try:
                event = self.decoder.next_event()
            except RequestEntityTooLarge:
                raise TooLarge("A form field or the number of parts is over the limit.", code="form_too_large") from None
            except ValueError as exc:
                if data is None and self.part is None:
                    return  # a body with no parts at all: the caller says which one is missing
                if data is None:
                    raise BadRequest("The upload was cut off before the end.", code="incomplete_body") from None
                raise BadRequest(f"The form is malformed ({exc}).", code="malformed_form") from None
            if isinstance(event, NeedData):
                return
            if isinstance(event, Epilogue):
                self.ended = True
                return
            if isinstance(event, File):
                if event.name != "file" or self.form.upload is not None:
                    raise BadRequest("Send exactly one file in a form part named 'file'.", code="missing_file",
                                     fields=[("file", "too_many")])
                self.form.upload, self.part = self.start(event.filename), FILE
            elif isinstance(event, Field):
                self.part, self.field = event.name, bytearray()
            elif isinstance(event, Data):
                if self.part is FILE:
                    self.form.upload.feed(event.data)
                elif self.part is not None:
                    self.field += event.data
                    if len(self.field) > self.max_field_bytes:
                        raise TooLarge("A form field is too long.", code="form_too_large")
                    if not event.more_data:
                        self.form.fields[self.part] = self.field.decode("utf-8", "replace")
