"""Webhook signatures: MLflow's HMAC scheme, freshness, forgery."""

from __future__ import annotations

import base64
import hashlib
import hmac

from src.components.webhook import WEBHOOK_MAX_AGE_S, verify_webhook

SECRET, BODY = "s3cret", b'{"entity": "model_version_alias"}'


def _headers(secret: str = SECRET, stamp: int = 1_000_000, delivery: str = "d-1") -> dict[str, str]:
    signed = f"{delivery}.{stamp}.{BODY.decode()}".encode()
    digest = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return {"x-mlflow-signature": f"v1,{digest}", "x-mlflow-delivery-id": delivery, "x-mlflow-timestamp": str(stamp)}


def test_a_signed_fresh_delivery_is_accepted():
    assert verify_webhook(SECRET, _headers(), BODY, now=1_000_000)


def test_a_forged_stale_or_unsigned_delivery_is_refused():
    assert not verify_webhook(SECRET, _headers(secret="guess"), BODY, now=1_000_000)
    assert not verify_webhook(SECRET, _headers(), BODY, now=1_000_000 + WEBHOOK_MAX_AGE_S + 1)
    assert not verify_webhook(SECRET, {**_headers(), "x-mlflow-signature": "v0,abc"}, BODY, now=1_000_000)
    assert not verify_webhook(SECRET, {}, BODY, now=1_000_000)
    assert not verify_webhook(SECRET, _headers(), BODY + b" ", now=1_000_000)  # the body was changed
