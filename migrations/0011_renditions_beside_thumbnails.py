"""Video renditions are derived objects and live under `user-<id>/thumbs/` with the thumbnails, as every other
derived object does; renditions made before move there from `user-<id>/videos/`."""
import tempfile

from momento.errors import ObjectMissing


def upgrade(backends):
    """Idempotent: each ready rendition still at its old key is copied to the new one, then the old is deleted
    (a run cut between the two copies it again)."""
    storage, catalog = backends.storage, backends.catalog
    for user in catalog.iter_users():
        for upload in catalog.iter_all_uploads(user.id):
            if upload.kind != "video" or upload.rendition != "ready":
                continue
            try:
                stream = storage.open(upload.legacy_playback_key)
            except ObjectMissing:
                continue
            with tempfile.TemporaryFile(dir=storage.scratch_dir()) as copy:
                try:
                    for chunk in stream:
                        copy.write(chunk)
                finally:
                    stream.close()
                copy.seek(0)
                storage.put(upload.playback_key, copy, "video/mp4")
            storage.delete(upload.legacy_playback_key)

