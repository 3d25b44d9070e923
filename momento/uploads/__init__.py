"""Every upload comes one way in, through three front doors.

Front doors: the form POST (`web/api.py` and the upload page, both through `web/receive.py`), tus
(`web/tus.py` over `uploads/tus.py`), and `flask momento import` (`ops/importer.py`). Each calls
`admission.admit()` first (the account may upload, the upload rate, the quota reservation, the daily
allowance), feeds the bytes to an `incoming.IncomingUpload` (sniff, size limit, hash, stream to the store) or,
for tus, to `tus_patch.PatchBody` (the same sniff and limits, part by part across requests), and ends in
`commit.commit()` (decode, derive, publish and record, or discard everything). The original's object key is
built in one place (`models.media_key`).
"""
