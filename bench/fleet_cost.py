"""What a month costs at 1,000 and 100,000 users, from `flask momento stats`' own model (momento/ops/stats.py).

One typical library is built as records (not bytes), measured with stats.measure() and priced with
stats.monthly_cost() at the default prices; the model is linear in users, so a fleet is that times N.
Run: python bench/fleet_cost.py [--photos 2000 --videos 40 ...]
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from momento.config import PRICES  # noqa: E402
from momento.models import PHOTO, VIDEO, Upload  # noqa: E402
from momento.ops.stats import Usage, measure, monthly_cost  # noqa: E402


def library(args, now: datetime) -> list[Upload]:
    """One person's uploads: older ones, this month's, and some in the trash."""
    old, new = (now - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ"), now.strftime("%Y-%m-%dT%H:%M:%SZ")
    items = []
    for i in range(args.photos + args.videos):
        video = i >= args.photos
        fresh = (i < args.new_photos) or (video and i - args.photos < args.new_videos)
        items.append(Upload(
            user_id="u", id=f"01J{i:023d}", filename=f"IMG_{i:04}.{'MOV' if video else 'HEIC'}",
            kind=VIDEO if video else PHOTO, ext="mov" if video else "heic", mime="video/quicktime" if video else "image/heic",
            size=int((args.video_mb if video else args.photo_mb) * 1e6), sha256=f"{i:064x}",
            uploaded_at=new if fresh else old, taken_at=old, width=4032, height=3024,
            tags=("family",), auto_tags=("year:2025", "month:2025-06", "camera:apple", "orientation:landscape"),
            rendition="ready" if video else "none",
            trashed_at=old if i % 50 == 49 else None))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--photo-mb", type=float, default=3.5)
    parser.add_argument("--video-mb", type=float, default=120)
    parser.add_argument("--new-photos", type=int, default=60, help="photos uploaded per user and month")
    parser.add_argument("--new-videos", type=int, default=2, help="videos uploaded per user and month")
    parser.add_argument("--users", type=int, nargs="+", default=[1_000, 100_000])
    args = parser.parse_args()
    now = datetime.now(timezone.utc)
    one = measure(library(args, now), now)
    print(f"one library: {one.photos} photos, {one.videos} videos, {(one.bytes + one.trash_bytes) / 1e9:.1f} GB")
    print(f"{'users':>8} {'stored TB':>10} {'s3 storage':>11} {'s3 requests':>12} {'ddb storage':>12} "
          f"{'ddb requests':>13} {'total $/month':>14} {'$/user':>7}")
    for n in args.users:
        fleet = Usage(**{k: v * n for k, v in vars(one).items()})
        cost = monthly_cost(fleet, PRICES)
        print(f"{n:>8} {(fleet.bytes + fleet.trash_bytes) / 1e12:>10.1f} {cost['s3_storage']:>11,.0f} "
              f"{cost['s3_requests']:>12,.0f} {cost['dynamodb_storage']:>12,.2f} {cost['dynamodb_requests']:>13,.2f} "
              f"{cost['total']:>14,.0f} {cost['total'] / n:>7.2f}")


if __name__ == "__main__":
    main()
