"""The OpenFeature Python SDK with its OFREP provider, against a running Posterior.

tests/ofrep/run starts the server and creates the experiments (see its `seed`), then runs this
with POSTERIOR_URL, POSTERIOR_CLIENT_KEY and POSTERIOR_ADMIN_KEY set.
"""

import os

import pytest
import requests
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

BASE = os.environ["POSTERIOR_URL"]
CLIENT_KEY = os.environ["POSTERIOR_CLIENT_KEY"]
ADMIN_KEY = os.environ["POSTERIOR_ADMIN_KEY"]


def provider(key):
    return OFREPProvider(
        BASE, headers_factory=lambda: {"Authorization": f"Bearer {key}"}, timeout=5.0
    )


@pytest.fixture(scope="module")
def client():
    api.set_provider(provider(CLIENT_KEY))
    return api.get_client()


def assigned(user, experiment, attributes=None):
    """The variant /api/v1/assign gives (the sticky path OFREP must agree with)."""
    r = requests.post(
        f"{BASE}/api/v1/assign",
        json={"user_id": user, "attributes": attributes or {}, "experiments": [experiment]},
        headers={"Authorization": f"Bearer {CLIENT_KEY}"},
        timeout=5,
    )
    r.raise_for_status()
    found = r.json()["assignments"]
    return found[0] if found else None


def ctx(user=None, **attributes):
    return EvaluationContext(targeting_key=user, attributes=attributes)


def test_object_flag_gives_the_sticky_variant_of_assign(client):
    for i in range(20):
        user = f"py-{i}"
        first = client.get_object_details("push-time", {}, ctx(user, platform="ios"))
        assert first.error_code is None, first.error_message
        assert first.reason == Reason.SPLIT
        a = assigned(user, "push-time", {"platform": "ios"})
        assert first.variant == a["variant"]
        assert first.value == a["payload"]
        assert first.flag_metadata["experiment"] == "push-time"
        assert first.flag_metadata["kind"] == "bandit"
        assert first.flag_metadata["dimension"] == "timing"
        again = client.get_object_details("push-time", {}, ctx(user, platform="ios"))
        assert again.variant == first.variant


def test_string_integer_and_float_flags_keep_their_types(client):
    for i in range(10):
        user = f"py-types-{i}"
        text = client.get_string_details("banner-text", "default", ctx(user))
        assert text.error_code is None, text.error_message
        assert text.value == assigned(user, "banner-text")["payload"]

        count = client.get_integer_details("max-items", 0, ctx(user))
        assert count.error_code is None, count.error_message
        assert type(count.value) is int

        discount = client.get_float_details("discount", 0.0, ctx(user))
        assert discount.error_code is None, discount.error_message
        assert type(discount.value) is float
        assert discount.value == assigned(user, "discount")["payload"]

    mismatch = client.get_integer_details("discount", 7, ctx("py-types-0"))
    assert mismatch.error_code == ErrorCode.TYPE_MISMATCH
    assert mismatch.value == 7


def test_without_payloads_the_value_is_the_variant_key(client):
    d = client.get_string_details("plain", "default", ctx("py-plain"))
    assert d.error_code is None, d.error_message
    assert d.value == d.variant == assigned("py-plain", "plain")["variant"]


def test_reasons(client):
    outside = client.get_object_details("push-time", {}, ctx("py-web", platform="web"))
    assert outside.error_code is None, outside.error_message
    assert outside.reason == Reason.DISABLED
    assert outside.variant == "morning"
    assert outside.value == {"send_at_hour": 8}

    winner = client.get_string_details("old-winner", "default", ctx())
    assert winner.error_code is None, winner.error_message
    assert winner.reason == Reason.TARGETING_MATCH
    assert winner.value == "Winner text"

    draft = client.get_string_details("draft-one", "default", ctx("py-1"))
    assert draft.reason == Reason.DISABLED
    assert draft.variant == "a"


def test_errors(client):
    missing = client.get_string_details("no-such-flag", "fallback", ctx("py-1"))
    assert missing.error_code == ErrorCode.FLAG_NOT_FOUND
    assert missing.value == "fallback"

    anonymous = client.get_object_details("push-time", {"d": 1}, ctx())
    assert anonymous.error_code == ErrorCode.TARGETING_KEY_MISSING
    assert anonymous.value == {"d": 1}

    nested = client.get_object_details("push-time", {}, ctx("py-1", address={"city": "Paris"}))
    assert nested.error_code == ErrorCode.INVALID_CONTEXT

    api.set_provider(provider("wrong-key"), "wrong")
    denied = api.get_client("wrong").get_string_details("banner-text", "fallback", ctx("py-1"))
    assert denied.error_code == ErrorCode.GENERAL
    assert denied.value == "fallback"


def test_conversions_go_to_the_track_api(client):
    """OFREP has no tracking endpoint: apps send conversions to /api/v1/track."""
    user = "py-converter"
    d = client.get_object_details("push-time", {}, ctx(user, platform="android"))
    r = requests.post(
        f"{BASE}/api/v1/track",
        json={"events": [{"event_id": f"{user}-open", "user_id": user, "name": "open"}]},
        headers={"Authorization": f"Bearer {CLIENT_KEY}"},
        timeout=5,
    )
    assert r.status_code == 202 and r.json()["accepted"] == 1
    results = requests.get(
        f"{BASE}/api/v1/experiments/push-time/results",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=5,
    ).json()
    row = next(v for v in results["variants"] if v["key"] == d.variant)
    assert row["conversions"] >= 1
