"""Reading a multipart upload as it arrives, so the pipeline sees each file's bytes before the body ends."""
from __future__ import annotations

import io
from typing import Callable, Optional

from flask import Request
from gunicorn.http.body import Body as GunicornBody, LengthReader as GunicornLengthReader
from multipart import ParserError, ParserLimitReached, PushMultipartParser
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.http import parse_options_header

from ..errors import BadRequest, TooLarge
from ..uploads.incoming import IncomingUpload

# Reads of 1 MiB, as much as the server reads from its socket at once (gunicorn), so it never keeps a
# remainder to copy again on the next read; 64 KiB until the file's type is known and near its size limit,
# so non-media or an oversized file is refused before much more of it is read.
READ = 1024 * 1024
SMALL_READ = 64 * 1024
HEADER_BYTES = 16 * 1024  # a part's headers together
FILE = object()  # marks the file part, so a text field that happens to be named "file" is not taken for it


class ReceivedForm:
    """What a streamed multipart body held: its text fields and the one file, already through feed()."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.upload: Optional[IncomingUpload] = None

    def add_field(self, name: str, raw: bytes | bytearray) -> None:
        """A text field, which must be UTF-8; a repeated one adds to what came before (`tags=a` and `tags=b`
        are `a,b`, as the comma-separated list they are)."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"The form field '{name}' is not UTF-8 text.",
                             code="invalid_tag" if name == "tags" else "malformed_form",
                             fields=[(name, "not_utf8")]) from None
        self.fields[name] = f"{self.fields[name]},{text}" if name in self.fields else text


def receive(request: Request, start: Callable[[Optional[str]], IncomingUpload], *, max_field_bytes: int,
            max_parts: int) -> ReceivedForm:
    """Parse the body part by part; the `file` part goes to start(filename).feed() as it arrives.

    On any error the upload started so far is aborted before the error leaves this function.
    """
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    if mimetype.lower() != "multipart/form-data" or not options.get("boundary"):  # media types ignore case
        raise BadRequest("Send the file as multipart/form-data with a part named 'file'.", code="not_multipart")
    # The parser holds back at most a part's headers (long file names fit) or a delimiter cut in two; fields
    # are limited below.
    parser = PushMultipartParser(options["boundary"], max_segment_count=max_parts, max_header_size=HEADER_BYTES,
                                 max_header_count=16)
    form = ReceivedForm()
    try:
        _drive(request, parser, form, start, max_field_bytes)
    except BaseException:
        if form.upload is not None:
            form.upload.abort()
        raise
    return form


def _drive(request, parser: PushMultipartParser, form: ReceivedForm, start, max_field_bytes: int) -> None:
    read = body_reader(request)
    part = None  # the field name being read, or FILE
    field = bytearray()
    seen = False  # a part's headers were read
    file_bytes, announced = 0, False  # the file's bytes so far; its likely length was told
    if request.content_length == 0:
        return  # no parts at all: the caller says which one is missing
    while not parser.closed:
        chunk = read(READ if form.upload is not None and form.upload.room > READ else SMALL_READ)
        try:
            for event in parser.parse(chunk):  # an empty chunk tells the parser the body is over
                if event is None:  # the end of a part
                    if part is not FILE and part is not None:
                        form.add_field(part, field)
                    part = None
                elif isinstance(event, (bytes, bytearray)):
                    if part is FILE:
                        file_bytes += len(event)
                        form.upload.feed(event)
                    elif part is not None:
                        field += event
                        if len(field) > max_field_bytes:
                            raise TooLarge("A form field is too long.", code="form_too_large")
                else:  # a part's headers
                    seen = True
                    name, filename = _disposition(event)
                    if filename is None:
                        part, field = name, bytearray()
                    elif name != "file" or form.upload is not None:
                        raise BadRequest("Send exactly one file in a form part named 'file'.", code="missing_file",
                                         fields=[("file", "missing" if form.upload is None else "too_many")])
                    else:
                        form.upload, part = start(filename), FILE
            if part is FILE and not announced:
                announced = True
                _announce(request, parser, form.upload, file_bytes)
        except ParserLimitReached:
            raise TooLarge("A form part's headers or the number of parts is over the limit.",
                           code="form_too_large") from None
        except ParserError as exc:
            if not chunk and not seen:
                return  # a body with no parts at all: the caller says which one is missing
            if not chunk:
                raise cut_off() from None
            raise BadRequest(f"The form is malformed ({exc}).", code="malformed_form") from None


def _announce(request, parser: PushMultipartParser, upload: IncomingUpload, file_bytes: int) -> None:
    """Tell the upload its likely length: the body's, less what came before the file and the closing delimiter
    that ends it (with the line break clients write after it), as when the file is the form's last part, as
    forms put it. It is a hint: were parts to follow, or the line break missing, the store makes it right."""
    consumed = getattr(parser, "_parsed", None)  # body bytes the parser is done with (multipart 2.x)
    if not request.content_length or not isinstance(consumed, int):
        return
    start = consumed - file_bytes  # the file's part is still open: what was consumed since is all file
    closing = len(b"\r\n--" + parser.boundary + b"--\r\n")
    likely = request.content_length - start - closing
    if likely > 0:
        upload.expect(likely)


def _disposition(segment) -> tuple[str, Optional[str]]:
    """A part's name and file name as browsers and HTTP libraries write them (RFC 5987 `filename*` included)."""
    _, options = parse_options_header(segment.header("Content-Disposition", ""))
    return options.get("name", segment.name), options.get("filename")


def cut_off() -> Exception:
    """The answer to a form body that stopped before its end."""
    return BadRequest("The upload was cut off before the end.", code="incomplete_body")


def body_reader(request, cut: Callable[[], Exception] = cut_off) -> Callable[[int], bytes]:
    """read(size) over the request's body: b"" at its end, cut() raised when the client stops short.

    A body of known length is read straight from gunicorn's socket (_from_gunicorn_socket), or from another
    server's input (werkzeug's wrapper would copy every read three times); one without a length goes through
    request.stream, which holds it to MAX_CONTENT_LENGTH.
    """
    length, raw = request.content_length, request.environ.get("wsgi.input")
    if length is None or raw is None:
        return _through_stream(request.stream, cut)
    if request.max_content_length is not None and length > request.max_content_length:
        raise RequestEntityTooLarge()  # answered like any request over the limit
    source = _from_gunicorn_socket(request.environ) or raw.read
    left = length

    def read(size: int) -> bytes:
        nonlocal left
        if left <= 0:
            return b""
        try:
            data = source(min(size, left))
        except (OSError, ValueError):  # the connection broke
            data = b""
        if not data:
            raise cut()
        left -= len(data)
        return data

    return read


def _from_gunicorn_socket(environ) -> Optional[Callable[[int], bytes]]:
    """read(size) of a body of known length straight from gunicorn's socket; None under another server.

    gunicorn's own reader passes every read through two buffers of its own (three copies of each byte, about a
    tenth of a second of CPU per 200 MB). This one hands out what gunicorn already holds first, then one recv()
    per read, and keeps gunicorn's count of the body still to come, so the connection's next request is read
    from the right byte. A failed read marks the body failed: gunicorn then closes the connection rather than
    reuse it.
    """
    body, sock = environ.get("wsgi.input"), environ.get("gunicorn.socket")
    reader = getattr(body, "reader", None)
    unreader = getattr(reader, "unreader", None)
    if not (isinstance(body, GunicornBody) and isinstance(reader, GunicornLengthReader) and sock is not None
            and getattr(unreader, "sock", None) is sock and isinstance(getattr(unreader, "buf", None), io.BytesIO)):
        return None

    def read(size: int) -> bytes:
        held = body.buf.getvalue()  # read ahead by gunicorn's body, already off its count
        if held:
            body.buf = io.BytesIO()
            body.buf.write(held[size:])
            return held[:size]
        if reader.length <= 0:
            return b""
        pending = unreader.buf.getvalue()  # read from the socket, not yet off the count (may run past the body)
        if pending:
            data = pending[:min(size, reader.length)]
            unreader.buf = io.BytesIO()
            unreader.buf.write(pending[len(data):])
        else:
            try:
                data = sock.recv(min(size, reader.length))
            except OSError:
                body.failed = True
                raise
            if not data:
                body.failed = True
        reader.length -= len(data)
        return data

    return read


def _through_stream(stream, cut: Callable[[], Exception]) -> Callable[[int], bytes]:
    """read(size) over werkzeug's request.stream (a body without a length), with its errors made ours."""
    def read(size: int) -> bytes:
        try:
            return stream.read(size)
        except ClientDisconnected:
            raise cut() from None
        except RequestEntityTooLarge:
            raise TooLarge("The request is larger than this server accepts.", code="request_too_large") from None

    return read
