"""Media delivered by S3 itself: presigned GET URLs, signed with the reader's credentials, and their origin."""
from __future__ import annotations

from typing import Any, Optional
from urllib.parse import urlsplit

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..aws import CLIENT_CONFIG
from .keys import check_key
from .s3_errors import failed as _failed

# SigV4 caps a presigned URL's lifetime at 7 days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
SIGNING_CONFIG = CLIENT_CONFIG.merge(Config(signature_version="s3v4"))


class S3Delivery:
    """Mixed into S3Storage, which holds `_signs` (a client with the reader's credentials, or the only ones)."""

    bucket: str
    _signs: Any
    _origin: Optional[str] = None

    def presigned_url(self, key: str, *, content_type: str, disposition: str, seconds: int) -> Optional[str]:
        """A GET URL for key valid `seconds` (at most 7 days), answering with this type and disposition.

        Signing is a local computation (no request is made), with the key that may read objects: where the
        deployment splits roles, the reader's, so a leaked URL grants exactly one read of one object.
        """
        signer = self._client_of(self._signs)
        params = {"Bucket": self.bucket, "Key": check_key(key), "ResponseContentType": content_type,
                  "ResponseContentDisposition": disposition}
        try:
            return signer.generate_presigned_url("get_object", Params=params,
                                                 ExpiresIn=max(1, min(int(seconds), MAX_PRESIGN_SECONDS)))
        except (BotoCoreError, ClientError) as exc:
            raise _failed("read the object", exc) from exc

    def delivery_origin(self) -> Optional[str]:
        """Where presigned URLs point: the endpoint's origin for path-style addressing, the bucket's own host
        for virtual-hosted style, exactly as the client signs them (read off one URL, made once)."""
        if self._origin is None:
            url = urlsplit(self.presigned_url("origin-probe", content_type="image/jpeg", disposition="inline",
                                              seconds=60))
            self._origin = f"{url.scheme}://{url.netloc}"
        return self._origin
