"""Put Blob with a container SAS, lean: the requests azure-storage-blob sends, without its per-call pipeline.

Uploading a 2,000-file code snapshot is 2,000 ``Put Blob`` calls; azure-storage-blob's policy
pipeline costs a few milliseconds of Python per call, which on a busy machine is most of the wall
time. This sends the same request (Blob REST ``Put Blob``: ``PUT <container>/<blob>?<SAS>`` with
``x-ms-blob-type: BlockBlob``, ``x-ms-version`` = the installed azure-storage-blob's, and
``If-None-Match: *`` unless overwriting, as ``upload_blob(overwrite=False)`` sends) over one pooled
urllib3 connection per worker. Proxies: the pool is the one ``runs.proxies`` picks for the container's
URL (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` exactly as azure-core's requests transport reads them).

Retries: connection errors and 408/429/500/502/503/504 answers are retried (3 times, backing off);
a ``409 BlobAlreadyExists`` on a create-only PUT counts as done, because the blob is in a container
that only ever receives this content (a pending upload named by the content hash, or a
``LocalUpload/<hash>`` folder) - it is our own earlier attempt whose answer was lost.
Only for blobs up to ``MAX_SINGLE_PUT`` (azure-storage-blob's own single-shot limit, 64 MiB);
larger files go through azure-storage-blob (block upload).

Docs: https://learn.microsoft.com/rest/api/storageservices/put-blob
"""

from __future__ import annotations

import time
from typing import Any, Optional
from urllib.parse import quote, urlsplit

from amlplatform.errors import UserError

MAX_SINGLE_PUT = 64 * 1024 * 1024  # azure-storage-blob max_single_put_size
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)


def _api_version() -> str:
    from azure.storage.blob._shared.constants import X_MS_VERSION

    return X_MS_VERSION


class SasBlobPutter:
    """``put(blob_name, path, size, overwrite)`` into the container a SAS URL names."""

    def __init__(self, container_sas_url: str, *, pool_size: int = 8, retries: int = 3, backoff: float = 0.2) -> None:
        import urllib3

        from amlplatform.runs.proxies import describe, pool_manager

        parts = urlsplit(container_sas_url)
        if not parts.query:
            raise ValueError("a container SAS URL is needed")
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.sas = parts.query
        self.retries = retries
        self.backoff = backoff
        self.version = _api_version()
        self.pool = pool_manager(self.base, num_pools=2, maxsize=pool_size, block=True, retries=False,
                                 timeout=urllib3.Timeout(connect=20, read=120))
        self.via = describe(self.base)

    def url(self, blob_name: str) -> str:
        return f"{self.base}/{quote(blob_name, safe='/~')}?{self.sas}"

    def put(self, blob_name: str, data: bytes, *, overwrite: bool) -> None:
        headers = {"x-ms-blob-type": "BlockBlob", "x-ms-version": self.version,
                   "Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
        if not overwrite:
            headers["If-None-Match"] = "*"
        last: Optional[str] = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                r = self.pool.request("PUT", self.url(blob_name), body=data, headers=headers, preload_content=True)
            except Exception as exc:  # urllib3 connection/protocol errors: retried
                last = f"{type(exc).__name__}: {exc}"
                continue
            if r.status in (200, 201):
                return
            code = r.headers.get("x-ms-error-code", "")
            if r.status == 409 and code == "BlobAlreadyExists" and not overwrite:
                return  # our own earlier attempt (see the module docstring)
            last = f"{r.status} {code or r.reason}"
            if r.status not in RETRY_STATUSES:
                break
        raise UserError(f"Put Blob {blob_name}: {last}{self.via}")

    def close(self) -> None:
        self.pool.clear()

    def __enter__(self) -> "SasBlobPutter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def blob_metadata_shared_key(account_url: str, container: str, blob_name: str, account: str, key: str,
                             *, timeout: float = 30.0) -> Optional[dict[str, str]]:
    """``Get Blob Properties`` (HEAD) signed with the account key; the blob's metadata (names
    lower-cased), or ``None`` when there is no such blob. Lets an unchanged data input be recognised
    without loading azure-storage-blob (most of a resubmit's start-up time).

    Shared Key for the Blob service (https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key):
    the string to sign is the verb, eleven standard header values (empty here), the canonicalized
    ``x-ms-*`` headers and ``/<account><URL path>``; the signature is base64(HMAC-SHA256(base64-decoded key)).
    """
    import base64
    import hashlib
    import hmac
    from email.utils import formatdate

    import urllib3

    from amlplatform.runs.proxies import describe, pool_manager

    url = f"{account_url.rstrip('/')}/{container}/{quote(blob_name, safe='/~')}"
    path = urlsplit(url).path
    headers = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": _api_version()}
    canonical_headers = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
    to_sign = "HEAD\n" + "\n" * 11 + canonical_headers + f"/{account}{path}"
    digest = hmac.new(base64.b64decode(key), to_sign.encode("utf-8"), hashlib.sha256).digest()
    headers["Authorization"] = f"SharedKey {account}:{base64.b64encode(digest).decode()}"
    http = pool_manager(url, retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=RETRY_STATUSES,
                                                   allowed_methods=None), timeout=timeout)
    try:
        r = http.request("HEAD", url, headers=headers)
    except urllib3.exceptions.HTTPError as exc:  # unreachable after the retries: DNS, refused, TLS, timeout
        reason = getattr(exc, "reason", None) or exc
        raise UserError(f"Get Blob Properties {blob_name}: no answer from {urlsplit(url).netloc}{describe(url)} ({reason})") from None
    finally:
        http.clear()
    if r.status == 404:
        return None
    if r.status != 200:
        raise UserError(f"Get Blob Properties {blob_name}: {r.status} {r.headers.get('x-ms-error-code', r.reason)}")
    return {k.lower()[len("x-ms-meta-"):]: v for k, v in r.headers.items() if k.lower().startswith("x-ms-meta-")}
