"""CloudWatch alarms through SNS (HTTP(S) subscription, or a Lambda's SNS event) and through EventBridge.

An SNS delivery must carry a valid SNS signature (see ``server.intake.sources.sns``) from a topic in
``topic_arns``; raw message delivery is refused, since a raw body cannot be verified. A
``SubscriptionConfirmation`` is answered only after verification and only for an allowed
topic: parse returns a ``ConfirmSubscription`` action and the wiring makes the GET. EventBridge
"CloudWatch Alarm State Change" events arrive through an API destination, authenticated with
a bearer token or a header secret. Identity is the alarm ARN.
"""

from __future__ import annotations

import builtins
import re
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field

from server.common import strict_json
from server.intake.sources import sns
from server.intake.sources.auth import HttpAuthConfig, check_http_auth
from server.intake.sources.base import (
    AlertEvent,
    AlertStatus,
    ConfirmSubscription,
    Headers,
    JSONObject,
    ParsedDelivery,
    SeverityMapping,
    VerifyContext,
    nonempty_links,
    resolve_service,
)
from server.intake.sources.errors import PayloadInvalid, SourceUnauthorized
from server.intake.sources.payload import Payload, decode_object, validate
from server.models import Severity

#: Dimensions that name a service, first match wins (``service_dimension`` in config goes first).
SERVICE_DIMENSIONS: tuple[str, ...] = ("ServiceName", "Service", "service", "FunctionName")

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"

_REGION_CODE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")

_STATES: dict[str, tuple[AlertStatus, str | None]] = {
    "ALARM": (AlertStatus.firing, None),
    "OK": (AlertStatus.resolved, None),
    "INSUFFICIENT_DATA": (AlertStatus.ignored, "the alarm has insufficient data to decide"),
}
State = Literal["ALARM", "OK", "INSUFFICIENT_DATA"]


class CloudWatchConfig(HttpAuthConfig):
    """SNS deliveries need ``topic_arns``; EventBridge deliveries need ``bearer_token`` or ``header_secret``."""

    type: Literal["cloudwatch"] = "cloudwatch"
    topic_arns: list[str] = Field(
        default_factory=list,
        description="SNS topics whose messages are accepted and whose subscriptions confirmed.",
    )
    max_age_seconds: int = Field(default=3600, ge=1, description="How old an SNS message Timestamp may be.")
    service_dimension: str | None = Field(default=None, description="The alarm dimension that names the service.")

    def verification(self) -> list[str]:
        checks = [f"SNS signature from {len(self.topic_arns)} allowed topic(s)"] if self.topic_arns else []
        return checks + [f"{check} (EventBridge)" for check in self.http_checks()]


class Dimension(Payload):
    name: str
    value: str


class MetricDefinition(Payload):
    MetricName: str | None = None
    Namespace: str | None = None
    Dimensions: list[Dimension] = Field(default_factory=list)


class AlarmMetricStat(Payload):
    Metric: MetricDefinition | None = None


class AlarmMetric(Payload):
    MetricStat: AlarmMetricStat | None = None


class AlarmTrigger(MetricDefinition):
    Metrics: list[AlarmMetric] = Field(default_factory=list)


class SnsAlarm(Payload):
    AlarmName: str
    AlarmDescription: str | None = None
    AWSAccountId: str | None = None
    NewStateValue: State
    NewStateReason: str | None = None
    OldStateValue: str | None = None
    StateChangeTime: datetime | None = None
    AlarmArn: str | None = None
    Trigger: AlarmTrigger | None = None


class EventMetric(Payload):
    namespace: str | None = None
    name: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)


class EventMetricStat(Payload):
    metric: EventMetric | None = None


class EventMetricEntry(Payload):
    metricStat: EventMetricStat | None = None


class EventConfiguration(Payload):
    description: str | None = None
    metrics: list[EventMetricEntry] = Field(default_factory=list)


class EventState(Payload):
    value: State
    reason: str | None = None
    timestamp: datetime | None = None


class EventDetail(Payload):
    alarmName: str
    state: EventState
    previousState: EventState | None = None
    configuration: EventConfiguration | None = None


class AlarmEvent(Payload):
    id: str | None = None
    account: str | None = None
    region: str | None = None
    resources: list[str] = Field(default_factory=list)
    detail: EventDetail


class SnsEnvelope(Payload):
    Type: str
    MessageId: str
    TopicArn: str
    Message: str = ""
    SubscribeURL: str | None = None


class LambdaRecord(Payload):
    Sns: SnsEnvelope


class LambdaEvent(Payload):
    Records: list[LambdaRecord]


SEVERITY = SeverityMapping(
    source_type="cloudwatch",
    field="(alarms carry no level: set default_severity or severity by service in triage)",
    levels={},
    default=Severity.high,
)


def _sns_messages(document: JSONObject | None) -> list[dict[str, Any]] | None:
    """The SNS messages in a body (itself, or each ``Records[].Sns``), or None when it is not SNS."""
    if document is None:
        return None
    if sns.envelope_type(document) is not None:
        return [document]
    records = document.get("Records")
    if isinstance(records, list) and records:
        messages = [record.get("Sns") for record in records if isinstance(record, dict)]
        if all(isinstance(message, dict) for message in messages) and len(messages) == len(records):
            return [message for message in messages if isinstance(message, dict)]
    return None


def _console_link(arn: str | None, name: str) -> str | None:
    parts = (arn or "").split(":", 6)
    if len(parts) < 7 or parts[1] != "aws" or not _REGION_CODE.match(parts[3]):
        return None
    region = parts[3]
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{quote(name)}"


def _region(arn: str | None) -> str | None:
    parts = (arn or "").split(":", 6)
    return parts[3] if len(parts) >= 7 and parts[3] else None


class CloudWatchSource:
    type: ClassVar[str] = "cloudwatch"
    config_model: ClassVar[builtins.type[CloudWatchConfig]] = CloudWatchConfig
    severity: ClassVar[SeverityMapping] = SEVERITY

    def verify(self, headers: Headers, body: bytes, config: CloudWatchConfig, context: VerifyContext) -> None:
        if headers.get("x-amz-sns-rawdelivery", "").strip().lower() == "true":
            raise SourceUnauthorized(
                config.name, "SNS raw message delivery cannot be verified; turn RawMessageDelivery off"
            )
        try:
            document: JSONObject | None = decode_object(body)
        except PayloadInvalid:
            document = None
        messages = _sns_messages(document)
        if "x-amz-sns-message-type" in headers or messages is not None:
            if not messages:
                raise SourceUnauthorized(
                    config.name,
                    "an SNS delivery without the SNS envelope (raw message delivery) cannot be verified; "
                    "turn RawMessageDelivery off",
                )
            header_topic = headers.get("x-amz-sns-topic-arn")
            max_age = timedelta(seconds=config.max_age_seconds)
            for message in messages:
                topic = message.get("TopicArn")
                if config.topic_arns and topic not in config.topic_arns:
                    raise SourceUnauthorized(config.name, f"SNS topic {topic!r} is not in topic_arns")
                if header_topic is not None and header_topic != topic:
                    raise SourceUnauthorized(config.name, "x-amz-sns-topic-arn differs from the body's TopicArn")
                sns.verify_sns_message(
                    message,
                    source=config.name,
                    certificates=context.certificates,
                    now=context.now,
                    max_age=max_age,
                )
            return
        if config.http_checks():
            check_http_auth(headers, config)
        elif config.topic_arns:
            raise SourceUnauthorized(
                config.name,
                "this is not an SNS delivery, and only SNS is configured; for EventBridge API destinations "
                "set bearer_token or header_secret",
            )

    def parse(self, body: JSONObject, headers: Headers, config: CloudWatchConfig) -> ParsedDelivery:
        if "Records" in body:
            event = validate(LambdaEvent, body, source_type=self.type)
            alerts = [
                alert
                for index, record in enumerate(event.Records)
                for alert in self._notification(record.Sns, config, f"Records[{index}].Sns.Message")
            ]
            delivery_id = event.Records[0].Sns.MessageId if event.Records else None
            return ParsedDelivery(
                source_name=config.name,
                source_type=self.type,
                delivery_id=delivery_id,
                alerts=alerts,
                raw=body,
            )
        if "Type" in body or "TopicArn" in body:
            return self._parse_envelope(body, config)
        if "detail-type" in body or "detail" in body:
            alert = self._alarm_event(body, config, prefix="")
            return ParsedDelivery(
                source_name=config.name,
                source_type=self.type,
                delivery_id=body.get("id") if isinstance(body.get("id"), str) else None,
                alerts=[alert],
                raw=body,
            )
        raise PayloadInvalid(
            "Type",
            "missing; CloudWatch alarms arrive as an SNS envelope (Type, Message...), an EventBridge event "
            "(detail-type, detail) or a Lambda SNS event (Records)",
            source_type=self.type,
        )

    def _parse_envelope(self, body: JSONObject, config: CloudWatchConfig) -> ParsedDelivery:
        envelope = validate(SnsEnvelope, body, source_type=self.type)
        action = None
        alerts: list[AlertEvent] = []
        if envelope.Type == sns.NOTIFICATION:
            alerts = self._notification(envelope, config, "Message")
        elif envelope.Type == sns.SUBSCRIPTION_CONFIRMATION:
            problem = sns.sns_url_problem(envelope.SubscribeURL, pem=False)
            if problem is not None:
                raise PayloadInvalid("SubscribeURL", problem, source_type=self.type)
            if envelope.TopicArn in config.topic_arns:
                action = ConfirmSubscription(url=str(envelope.SubscribeURL), topic_arn=envelope.TopicArn)
            else:
                alerts = [
                    self._ignored(
                        envelope,
                        config,
                        f"subscription to {envelope.TopicArn} not confirmed: add it to "
                        f"sources.{config.name}.topic_arns and have SNS resend the confirmation",
                    )
                ]
        elif envelope.Type == sns.UNSUBSCRIBE_CONFIRMATION:
            alerts = [self._ignored(envelope, config, f"SNS confirms the end of a subscription to {envelope.TopicArn}")]
        else:
            raise PayloadInvalid(
                "Type",
                f"expected Notification, SubscriptionConfirmation or UnsubscribeConfirmation, got {envelope.Type!r}",
                source_type=self.type,
            )
        return ParsedDelivery(
            source_name=config.name,
            source_type=self.type,
            delivery_id=envelope.MessageId,
            alerts=alerts,
            action=action,
            raw=body,
        )

    def _ignored(self, envelope: SnsEnvelope, config: CloudWatchConfig, reason: str) -> AlertEvent:
        return AlertEvent(
            source_name=config.name,
            source_type=self.type,
            identity=envelope.MessageId,
            status=AlertStatus.ignored,
            ignored_reason=reason,
            service=resolve_service(config, ()),
            severity=self.severity.resolve(None, config=config),
            title=f"SNS {envelope.Type} from {envelope.TopicArn}",
            labels={"topic_arn": envelope.TopicArn},
        )

    def _notification(self, envelope: SnsEnvelope, config: CloudWatchConfig, path: str) -> list[AlertEvent]:
        try:
            message = strict_json.loads(envelope.Message)
        except ValueError:
            message = None
        if isinstance(message, dict) and "AlarmName" in message:
            return [self._sns_alarm(message, config, path)]
        if isinstance(message, dict) and message.get("detail-type") == ALARM_STATE_CHANGE:
            return [self._alarm_event(message, config, prefix=path)]
        return [self._ignored(envelope, config, "the SNS message is not a CloudWatch alarm")]

    def _sns_alarm(self, message: JSONObject, config: CloudWatchConfig, path: str) -> AlertEvent:
        alarm = validate(SnsAlarm, message, source_type=self.type, prefix=path)
        dimensions: dict[str, str] = {}
        namespace = metric = None
        if alarm.Trigger is not None:
            definitions = [alarm.Trigger] + [
                entry.MetricStat.Metric
                for entry in alarm.Trigger.Metrics
                if entry.MetricStat and entry.MetricStat.Metric
            ]
            for definition in definitions:
                dimensions.update({dimension.name: dimension.value for dimension in definition.Dimensions})
                namespace = namespace or definition.Namespace
                metric = metric or definition.MetricName
        identity = alarm.AlarmArn or f"alarm:{alarm.AWSAccountId or ''}:{alarm.AlarmName}"
        status, reason = _STATES[alarm.NewStateValue]
        return self._alarm(
            config,
            identity=identity,
            name=alarm.AlarmName,
            status=status,
            reason=reason,
            description=alarm.AlarmDescription,
            state_reason=alarm.NewStateReason,
            changed_at=alarm.StateChangeTime,
            dimensions=dimensions,
            extra={
                "namespace": namespace,
                "metric": metric,
                "account": alarm.AWSAccountId,
                "region": _region(alarm.AlarmArn),
                "previous_state": alarm.OldStateValue,
            },
            raw=message,
        )

    def _alarm_event(self, document: JSONObject, config: CloudWatchConfig, prefix: str) -> AlertEvent:
        kind = document.get("detail-type")
        if kind != ALARM_STATE_CHANGE:
            raise PayloadInvalid(
                f"{prefix}.detail-type" if prefix else "detail-type",
                f"expected {ALARM_STATE_CHANGE!r}, got {kind!r}",
                source_type=self.type,
            )
        event = validate(AlarmEvent, document, source_type=self.type, prefix=prefix)
        detail = event.detail
        dimensions: dict[str, str] = {}
        namespace = metric = None
        for entry in detail.configuration.metrics if detail.configuration else []:
            if entry.metricStat and entry.metricStat.metric:
                dimensions.update(entry.metricStat.metric.dimensions)
                namespace = namespace or entry.metricStat.metric.namespace
                metric = metric or entry.metricStat.metric.name
        arn = next((resource for resource in event.resources if ":alarm:" in resource), None)
        identity = arn or f"arn:aws:cloudwatch:{event.region}:{event.account}:alarm:{detail.alarmName}"
        status, reason = _STATES[detail.state.value]
        return self._alarm(
            config,
            identity=identity,
            name=detail.alarmName,
            status=status,
            reason=reason,
            description=detail.configuration.description if detail.configuration else None,
            state_reason=detail.state.reason,
            changed_at=detail.state.timestamp,
            dimensions=dimensions,
            extra={
                "namespace": namespace,
                "metric": metric,
                "account": event.account,
                "region": event.region,
                "previous_state": detail.previousState.value if detail.previousState else None,
            },
            raw=document,
        )

    def _alarm(
        self,
        config: CloudWatchConfig,
        *,
        identity: str,
        name: str,
        status: AlertStatus,
        reason: str | None,
        description: str | None,
        state_reason: str | None,
        changed_at: datetime | None,
        dimensions: dict[str, str],
        extra: dict[str, str | None],
        raw: JSONObject,
    ) -> AlertEvent:
        keys = (config.service_dimension, *SERVICE_DIMENSIONS) if config.service_dimension else SERVICE_DIMENSIONS
        return AlertEvent(
            source_name=config.name,
            source_type=self.type,
            identity=identity,
            status=status,
            ignored_reason=reason,
            service=resolve_service(config, (*(dimensions.get(key) for key in keys), name)),
            severity=self.severity.resolve(None, config=config),
            title=name,
            description=description,
            error=state_reason,
            links=nonempty_links(source=_console_link(identity, name)),
            labels={**dimensions, **{key: value for key, value in extra.items() if value}},
            starts_at=changed_at if status is AlertStatus.firing else None,
            ends_at=changed_at if status is AlertStatus.resolved else None,
            raw_alert=raw,
        )
