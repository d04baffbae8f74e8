"""CloudWatch via SNS: signatures checked against a self-made CA, topics allow-listed, confirmations made safely."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.api.errors import status_of
from server.intake.sources import load_sources
from server.intake.sources.base import AlertStatus
from server.intake.sources.errors import CertificateUnavailable, PayloadInvalid, SourceUnauthorized
from server.intake.sources.intake import AlertIntake

from .conftest import FakeClock
from .sns_ca import CERT_URL, TOPIC, VALID_UNTIL, RecordingFetcher, signer

SUBSCRIBE_URL = f"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f37"
ALARM = {
    "AlarmName": "payments-5xx",
    "AlarmDescription": "5xx above 5% for 5 minutes",
    "AWSAccountId": "123456789012",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 datapoint [7.2] was greater than the threshold (5.0).",
    "StateChangeTime": "2026-11-22T08:59:00.000+0000",
    "Region": "US West (Oregon)",
    "AlarmArn": "arn:aws:cloudwatch:us-west-2:123456789012:alarm:payments-5xx",
    "OldStateValue": "OK",
    "Trigger": {
        "MetricName": "HTTPCode_Target_5XX_Count",
        "Namespace": "AWS/ApplicationELB",
        "Dimensions": [{"name": "ServiceName", "value": "payments"}],
    },
}


def notification(**changes: Any) -> dict[str, Any]:
    message = {
        "Type": "Notification",
        "MessageId": "8f2e9d6a-0c1b-4e5f-9a7b-3c2d1e0f4a5b",
        "TopicArn": TOPIC,
        "Subject": 'ALARM: "payments-5xx" in US West (Oregon)',
        "Message": json.dumps(ALARM),
        "Timestamp": "2026-11-22T08:59:30.000Z",
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
    }
    message.update(changes)
    return message


def confirmation(kind: str = "SubscriptionConfirmation", **changes: Any) -> dict[str, Any]:
    message = {
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
        "SubscribeURL": SUBSCRIBE_URL,
        "Timestamp": "2026-11-22T08:58:00.000Z",
    }
    message.update(changes)
    return message


@pytest.fixture
def fetcher() -> RecordingFetcher:
    pem = signer().certificate_pem
    return RecordingFetcher(
        pages={
            CERT_URL: pem,
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-0000test.pem": pem,
            SUBSCRIBE_URL: b"<ConfirmSubscriptionResponse/>",
        }
    )


def make_intake(fetcher: RecordingFetcher, clock: FakeClock, **config: Any) -> AlertIntake:
    settings = {"topic_arns": [TOPIC], **config}
    return AlertIntake(load_sources({"sources": {"cloudwatch": settings}}), fetch=fetcher, clock=clock)


SNS_HEADERS = {"x-amz-sns-message-type": "Notification", "x-amz-sns-topic-arn": TOPIC}


def post(intake: AlertIntake, message: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return intake.receive("cloudwatch", SNS_HEADERS if headers is None else headers, json.dumps(message).encode())


@pytest.mark.parametrize("version", ["1", "2"])
def test_signed_alarm_notification_is_accepted(version: str, fetcher: RecordingFetcher, clock: FakeClock) -> None:
    parsed = post(make_intake(fetcher, clock), signer().sign(notification(), version=version))
    alert = parsed.alerts[0]
    assert (alert.identity, alert.status, alert.service, alert.title) == (
        ALARM["AlarmArn"],
        AlertStatus.firing,
        "payments",
        "payments-5xx",
    )
    assert alert.error == ALARM["NewStateReason"]
    assert alert.labels["namespace"] == "AWS/ApplicationELB" and alert.labels["region"] == "us-west-2"
    assert alert.links["source"].startswith("https://us-west-2.console.aws.amazon.com/cloudwatch/")
    assert parsed.delivery_id == "8f2e9d6a-0c1b-4e5f-9a7b-3c2d1e0f4a5b"
    assert fetcher.calls == [CERT_URL]


def test_notification_without_subject_is_signed_without_it(fetcher: RecordingFetcher, clock: FakeClock) -> None:
    message = notification()
    del message["Subject"]
    assert post(make_intake(fetcher, clock), signer().sign(message)).alerts


def test_lambda_sns_event_form_is_verified_per_record(fetcher: RecordingFetcher, clock: FakeClock) -> None:
    record = signer().sign(notification())
    record["SigningCertUrl"] = record.pop("SigningCertURL")  # the Lambda event spells it so
    body = {"Records": [{"EventSource": "aws:sns", "Sns": record}]}
    parsed = make_intake(fetcher, clock).receive("cloudwatch", {}, json.dumps(body).encode())
    assert [alert.identity for alert in parsed.alerts] == [ALARM["AlarmArn"]]
    record["Message"] = record["Message"].replace("ALARM", "OK")
    with pytest.raises(SourceUnauthorized, match="signature does not match"):
        make_intake(fetcher, clock).receive("cloudwatch", {}, json.dumps(body).encode())


def test_certificate_is_fetched_once(fetcher: RecordingFetcher, clock: FakeClock) -> None:
    intake = make_intake(fetcher, clock)
    for message_id in ("a", "b", "c"):
        post(intake, signer().sign(notification(MessageId=message_id)))
    assert fetcher.calls == [CERT_URL]


def unsigned_changes(message: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**message, **changes}


# Refusals: the message (signed by our CA unless the row changes it after signing), headers, and
# the words of the refusal. None of them may fetch anything but the real certificate URL.
REFUSALS: dict[str, tuple[dict[str, Any], dict[str, str] | None, str]] = {
    "tampered message": (unsigned_changes(signer().sign(notification()), Message="{}"), None, "does not match"),
    "tampered subject": (unsigned_changes(signer().sign(notification()), Subject="OK"), None, "does not match"),
    "signature of another message": (
        unsigned_changes(signer().sign(notification()), Signature=signer().sign(confirmation())["Signature"]),
        None,
        "does not match",
    ),
    "signature not base64": (unsigned_changes(signer().sign(notification()), Signature="***"), None, "not base64"),
    "wrong certificate host": (
        signer().sign(notification(), cert_url="https://sns.us-west-2.example.com/SimpleNotificationService-1.pem"),
        None,
        "not on an sns.<region>.amazonaws.com host",
    ),
    "look-alike host": (
        signer().sign(notification(), cert_url="https://sns.us-west-2.amazonaws.com.evil.example/c.pem"),
        None,
        "not on an sns.<region>.amazonaws.com host",
    ),
    "user part before the host": (
        signer().sign(notification(), cert_url="https://evil.example@sns.us-west-2.amazonaws.com/c.pem"),
        None,
        "host only",
    ),
    "other port": (
        signer().sign(notification(), cert_url="https://sns.us-west-2.amazonaws.com:8443/c.pem"),
        None,
        "host only",
    ),
    "certificate URL not https": (
        signer().sign(notification(), cert_url="http://sns.us-west-2.amazonaws.com/SimpleNotificationService-1.pem"),
        None,
        "not an https URL",
    ),
    "certificate URL not .pem": (
        signer().sign(notification(), cert_url="https://sns.us-west-2.amazonaws.com/cert.txt"),
        None,
        "does not end in .pem",
    ),
    "unknown signature version": (
        unsigned_changes(signer().sign(notification()), SignatureVersion="3"),
        None,
        "SignatureVersion",
    ),
    "topic not allowed": (
        signer().sign(notification(TopicArn="arn:aws:sns:us-west-2:999999999999:other")),
        {"x-amz-sns-message-type": "Notification"},
        "is not in topic_arns",
    ),
    "topic header differs from body": (
        signer().sign(notification()),
        {"x-amz-sns-topic-arn": "arn:aws:sns:us-west-2:123456789012:other"},
        "differs",
    ),
    "too old": (signer().sign(notification(Timestamp="2026-11-22T07:59:00.000Z")), None, "accepted age"),
    "from the future": (signer().sign(notification(Timestamp="2026-11-22T09:10:00.000Z")), None, "accepted age"),
    "raw delivery header": (
        signer().sign(notification()),
        {"x-amz-sns-message-type": "Notification", "x-amz-sns-rawdelivery": "true"},
        "raw message delivery",
    ),
    "raw delivery body": (ALARM, {"x-amz-sns-message-type": "Notification"}, "raw message delivery"),
    "unsigned confirmation": (
        {key: value for key, value in signer().sign(confirmation()).items() if key != "Signature"},
        {"x-amz-sns-message-type": "SubscriptionConfirmation"},
        "has no Signature",
    ),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_refused(name: str, fetcher: RecordingFetcher, clock: FakeClock) -> None:
    message, headers, words = REFUSALS[name]
    with pytest.raises(SourceUnauthorized) as caught:
        post(make_intake(fetcher, clock), message, headers)
    assert words in caught.value.message
    assert set(fetcher.calls) <= {CERT_URL}


def test_china_partition_certificate_host_is_accepted(fetcher: RecordingFetcher, clock: FakeClock) -> None:
    url = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-0000test.pem"
    assert post(make_intake(fetcher, clock), signer().sign(notification(), cert_url=url)).alerts


def test_expired_certificate_is_refused(fetcher: RecordingFetcher, clock: FakeClock) -> None:
    clock.current = VALID_UNTIL.replace(year=VALID_UNTIL.year + 1)
    message = signer().sign(notification(Timestamp=clock.current.isoformat().replace("+00:00", "Z")))
    with pytest.raises(SourceUnauthorized, match="not valid now"):
        post(make_intake(fetcher, clock), message)


def test_certificate_that_cannot_be_fetched_is_a_retryable_failure(clock: FakeClock) -> None:
    empty = RecordingFetcher()
    with pytest.raises(CertificateUnavailable) as caught:
        post(make_intake(empty, clock), signer().sign(notification()))
    assert status_of(caught.value) == 503
    # Not cached: the next delivery asks again.
    with pytest.raises(CertificateUnavailable):
        post(make_intake(empty, clock), signer().sign(notification()))
    assert empty.calls == [CERT_URL, CERT_URL]


def test_subscription_is_confirmed_only_after_verification(fetcher: RecordingFetcher, clock: FakeClock) -> None:
    intake = make_intake(fetcher, clock)
    parsed = post(intake, signer().sign(confirmation()), {"x-amz-sns-message-type": "SubscriptionConfirmation"})
    assert parsed.alerts == []
    assert parsed.action is not None and (parsed.action.url, parsed.action.topic_arn) == (SUBSCRIBE_URL, TOPIC)
    assert fetcher.calls == [CERT_URL]  # parsing alone makes no GET
    assert intake.confirm(parsed) is True
    assert fetcher.calls == [CERT_URL, SUBSCRIBE_URL]


def test_forged_confirmation_is_never_confirmed(fetcher: RecordingFetcher, clock: FakeClock) -> None:
    forged = unsigned_changes(signer().sign(confirmation()), Token="other")
    with pytest.raises(SourceUnauthorized):
        post(make_intake(fetcher, clock), forged)
    assert SUBSCRIBE_URL not in fetcher.calls


def test_confirmation_for_another_topic_is_refused(fetcher: RecordingFetcher, clock: FakeClock) -> None:
    other = "arn:aws:sns:us-west-2:999999999999:theirs"
    message = signer().sign(confirmation(TopicArn=other, SubscribeURL=SUBSCRIBE_URL.replace(TOPIC, other)))
    with pytest.raises(SourceUnauthorized, match="not in topic_arns"):
        post(make_intake(fetcher, clock), message, {})
    assert fetcher.calls == []


def test_without_allowed_topics_a_confirmation_is_explained_not_made(
    fetcher: RecordingFetcher, clock: FakeClock
) -> None:
    parsed = post(make_intake(fetcher, clock, topic_arns=[]), signer().sign(confirmation()), {})
    assert parsed.action is None
    assert parsed.alerts[0].status is AlertStatus.ignored
    assert "add it to sources.cloudwatch.topic_arns" in (parsed.alerts[0].ignored_reason or "")


def test_confirmation_to_a_foreign_url_is_refused_even_when_signed(fetcher: RecordingFetcher, clock: FakeClock) -> None:
    message = signer().sign(confirmation(SubscribeURL="https://attacker.example/confirm"))
    with pytest.raises(PayloadInvalid, match="SubscribeURL: is not on an sns"):
        post(make_intake(fetcher, clock), message, {})
    assert fetcher.calls == [CERT_URL]


def test_unsubscribe_confirmation_is_ignored(fetcher: RecordingFetcher, clock: FakeClock) -> None:
    parsed = post(make_intake(fetcher, clock), signer().sign(confirmation("UnsubscribeConfirmation")), {})
    assert [(alert.status, alert.identity) for alert in parsed.alerts] == [
        (AlertStatus.ignored, "165545c9-2a5c-472c-8df2-7ff2be2b3b1b")
    ]
    assert parsed.action is None


@pytest.mark.parametrize(
    ("state", "status"),
    [("ALARM", AlertStatus.firing), ("OK", AlertStatus.resolved), ("INSUFFICIENT_DATA", AlertStatus.ignored)],
)
def test_alarm_states(state: str, status: AlertStatus, fetcher: RecordingFetcher, clock: FakeClock) -> None:
    message = notification(Message=json.dumps({**ALARM, "NewStateValue": state}))
    alert = post(make_intake(fetcher, clock), signer().sign(message)).alerts[0]
    assert alert.status is status and alert.identity == ALARM["AlarmArn"]


def test_eventbridge_event_inside_sns_is_read_as_an_alarm(fetcher: RecordingFetcher, clock: FakeClock) -> None:
    event = {
        "id": "e-2",
        "detail-type": "CloudWatch Alarm State Change",
        "account": "123456789012",
        "region": "us-west-2",
        "resources": ["arn:aws:cloudwatch:us-west-2:123456789012:alarm:queue-depth"],
        "detail": {"alarmName": "queue-depth", "state": {"value": "OK", "reason": "back to normal"}},
    }
    alert = post(make_intake(fetcher, clock), signer().sign(notification(Message=json.dumps(event)))).alerts[0]
    assert (alert.identity, alert.status) == (event["resources"][0], AlertStatus.resolved)
