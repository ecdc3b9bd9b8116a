import datetime

from aegis.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateRuleRequest(_message.Message):
    __slots__ = ("name", "metric", "model", "comparison", "threshold", "window_minutes", "webhook_url", "webhook_secret", "group_by", "feature", "reference_start", "reference_end")
    NAME_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WINDOW_MINUTES_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_START_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_END_FIELD_NUMBER: _ClassVar[int]
    name: str
    metric: str
    model: str
    comparison: str
    threshold: float
    window_minutes: int
    webhook_url: str
    webhook_secret: str
    group_by: str
    feature: str
    reference_start: str
    reference_end: str
    def __init__(self, name: _Optional[str] = ..., metric: _Optional[str] = ..., model: _Optional[str] = ..., comparison: _Optional[str] = ..., threshold: _Optional[float] = ..., window_minutes: _Optional[int] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., group_by: _Optional[str] = ..., feature: _Optional[str] = ..., reference_start: _Optional[str] = ..., reference_end: _Optional[str] = ...) -> None: ...

class UpdateRuleRequest(_message.Message):
    __slots__ = ("id", "name", "metric", "model", "comparison", "threshold", "window_minutes", "webhook_url", "webhook_secret", "group_by", "feature", "reference_start", "reference_end")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WINDOW_MINUTES_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_START_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_END_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    metric: str
    model: str
    comparison: str
    threshold: float
    window_minutes: int
    webhook_url: str
    webhook_secret: str
    group_by: str
    feature: str
    reference_start: str
    reference_end: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., metric: _Optional[str] = ..., model: _Optional[str] = ..., comparison: _Optional[str] = ..., threshold: _Optional[float] = ..., window_minutes: _Optional[int] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., group_by: _Optional[str] = ..., feature: _Optional[str] = ..., reference_start: _Optional[str] = ..., reference_end: _Optional[str] = ...) -> None: ...

class AlertRule(_message.Message):
    __slots__ = ("id", "name", "metric", "model", "comparison", "threshold", "window_minutes", "webhook_url", "state", "state_since", "last_value", "last_evaluated_at", "created_at", "updated_at", "warnings", "group_by", "firing_groups", "feature", "reference_start", "reference_end")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WINDOW_MINUTES_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_SINCE_FIELD_NUMBER: _ClassVar[int]
    LAST_VALUE_FIELD_NUMBER: _ClassVar[int]
    LAST_EVALUATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    FIRING_GROUPS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_START_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_END_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    metric: str
    model: str
    comparison: str
    threshold: float
    window_minutes: int
    webhook_url: str
    state: str
    state_since: _timestamp_pb2.Timestamp
    last_value: float
    last_evaluated_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    warnings: _containers.RepeatedScalarFieldContainer[str]
    group_by: str
    firing_groups: _containers.RepeatedScalarFieldContainer[str]
    feature: str
    reference_start: str
    reference_end: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., metric: _Optional[str] = ..., model: _Optional[str] = ..., comparison: _Optional[str] = ..., threshold: _Optional[float] = ..., window_minutes: _Optional[int] = ..., webhook_url: _Optional[str] = ..., state: _Optional[str] = ..., state_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_value: _Optional[float] = ..., last_evaluated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ..., group_by: _Optional[str] = ..., firing_groups: _Optional[_Iterable[str]] = ..., feature: _Optional[str] = ..., reference_start: _Optional[str] = ..., reference_end: _Optional[str] = ...) -> None: ...

class ListRulesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRulesResponse(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[AlertRule]
    def __init__(self, rules: _Optional[_Iterable[_Union[AlertRule, _Mapping]]] = ...) -> None: ...

class GetRuleRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteRuleRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteRuleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAlertEventsRequest(_message.Message):
    __slots__ = ("rule_id", "limit")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    limit: int
    def __init__(self, rule_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class AlertEvent(_message.Message):
    __slots__ = ("id", "rule_id", "rule_name", "metric", "previous_state", "state", "value", "threshold", "window_minutes", "time", "delivery_status", "delivery_attempts", "delivered_at", "group", "features")
    class GroupEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_NAME_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WINDOW_MINUTES_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_STATUS_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_AT_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    id: str
    rule_id: str
    rule_name: str
    metric: str
    previous_state: str
    state: str
    value: float
    threshold: float
    window_minutes: int
    time: _timestamp_pb2.Timestamp
    delivery_status: str
    delivery_attempts: int
    delivered_at: _timestamp_pb2.Timestamp
    group: _containers.ScalarMap[str, str]
    features: _containers.RepeatedCompositeFieldContainer[DriftedFeature]
    def __init__(self, id: _Optional[str] = ..., rule_id: _Optional[str] = ..., rule_name: _Optional[str] = ..., metric: _Optional[str] = ..., previous_state: _Optional[str] = ..., state: _Optional[str] = ..., value: _Optional[float] = ..., threshold: _Optional[float] = ..., window_minutes: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delivery_status: _Optional[str] = ..., delivery_attempts: _Optional[int] = ..., delivered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group: _Optional[_Mapping[str, str]] = ..., features: _Optional[_Iterable[_Union[DriftedFeature, _Mapping]]] = ...) -> None: ...

class DriftedFeature(_message.Message):
    __slots__ = ("name", "psi", "status")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PSI_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    name: str
    psi: float
    status: str
    def __init__(self, name: _Optional[str] = ..., psi: _Optional[float] = ..., status: _Optional[str] = ...) -> None: ...

class ListAlertEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AlertEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[AlertEvent, _Mapping]]] = ...) -> None: ...
