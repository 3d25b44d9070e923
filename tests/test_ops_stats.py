"""`flask momento stats`: counts by kind, bytes, trash and the monthly cost estimate from configured prices."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from momento import create_app
from momento.config import PRICES, ConfigError
from momento.ops.stats import THUMB_BYTES, GiB, Usage, monthly_cost
from tests import corpus
from tests.conftest import both_backends


@both_backends
def test_stats_per_user_and_total(app, runner, alice, bob):
    photo, other, video = corpus.jpeg(64, 48), corpus.png(40, 40), corpus.mp4(1)
    alice.upload(photo)
    trashed = alice.upload(other).json["id"]
    alice.upload(video, filename="clip.mp4")
    alice.delete(f"/api/v1/uploads/{trashed}")
    bob.upload(corpus.jpeg(20, 20))

    result = runner.invoke(args=["momento", "stats", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    users = {u["email"]: u for u in stats["users"]}
    a = users["alice@example.com"]
    assert (a["photos"], a["videos"], a["trashed"]) == (1, 1, 1)
    assert a["bytes"] == len(photo) + len(video) and a["trash_bytes"] == len(other)
    assert a["new_uploads"] == 3 and a["s3_puts"] == 3 * 2  # originals and thumbnails (H.264 needs no rendition)
    assert a["cost"]["total"] > 0 and a["cost"]["total"] == pytest.approx(sum(
        v for k, v in a["cost"].items() if k != "total"), abs=1e-3)
    total = stats["total"]
    assert total["photos"] == 2 and total["bytes"] == a["bytes"] + users["bob@example.com"]["bytes"]
    assert stats["prices"]["PRICE_S3_GB_MONTH"] == 0.023 and stats["currency"] == "USD"

    table = runner.invoke(args=["momento", "stats"]).output
    assert "alice@example.com" in table and "TOTAL" in table and "Estimated monthly cost" in table


def test_cost_model_follows_the_prices():
    prices = dict(PRICES)
    use = Usage(photos=1000, bytes=10 * GiB, trash_bytes=GiB, table_bytes=GiB, new_uploads=100, s3_puts=200,
                ddb_writes=4000)
    cost = monthly_cost(use, prices)
    stored = (11 * GiB + 1000 * THUMB_BYTES) / GiB
    assert cost["s3_storage"] == pytest.approx(stored * 0.023, abs=1e-4)
    assert cost["dynamodb_storage"] == pytest.approx(0.25, abs=1e-4)
    views = 1000 * prices["COST_VIEWS_PER_UPLOAD"]
    assert cost["s3_requests"] == pytest.approx(0.2 * 0.005 + (2 * views + 100) / 1000 * 0.0004, abs=1e-4)
    doubled = monthly_cost(use, {**prices, "PRICE_S3_GB_MONTH": 0.046})
    assert doubled["s3_storage"] == pytest.approx(2 * cost["s3_storage"], abs=1e-4)


def test_prices_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MOMENTO_PRICE_S3_GB_MONTH", "0.0125")
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path)})
    assert app.config["PRICE_S3_GB_MONTH"] == 0.0125
    stats = json.loads(app.test_cli_runner().invoke(args=["momento", "stats", "--json"]).output)
    assert stats["prices"]["PRICE_S3_GB_MONTH"] == 0.0125
    monkeypatch.setenv("MOMENTO_PRICE_S3_GB_MONTH", "-1")
    with pytest.raises(ConfigError, match="PRICE_S3_GB_MONTH"):
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path)})


def test_old_uploads_cost_storage_but_no_new_requests(app, alice, backends):
    from momento.ops.stats import measure

    upload = backends.catalog.get_upload(alice.user.id, alice.upload(corpus.jpeg(30, 30)).json["id"])
    later = datetime(2099, 1, 1, tzinfo=timezone.utc)
    use = measure([upload], later)
    assert (use.photos, use.new_uploads, use.s3_puts, use.ddb_writes) == (1, 0, 0, 0)
    assert use.table_bytes > 0
