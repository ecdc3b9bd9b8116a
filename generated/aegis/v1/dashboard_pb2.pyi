import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OverviewRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RecentEvent(_message.Message):
    __slots__ = ("kind", "event_id", "model", "timestamp", "data")
    KIND_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    kind: str
    event_id: str
    model: str
    timestamp: _timestamp_pb2.Timestamp
    data: _struct_pb2.Struct
    def __init__(self, kind: _Optional[str] = ..., event_id: _Optional[str] = ..., model: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class OverviewResponse(_message.Message):
    __slots__ = ("total_ml_predictions", "total_llm_requests", "active_models", "total_cost", "recent_events")
    TOTAL_ML_PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_LLM_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_MODELS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_FIELD_NUMBER: _ClassVar[int]
    RECENT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    total_ml_predictions: int
    total_llm_requests: int
    active_models: int
    total_cost: float
    recent_events: _containers.RepeatedCompositeFieldContainer[RecentEvent]
    def __init__(self, total_ml_predictions: _Optional[int] = ..., total_llm_requests: _Optional[int] = ..., active_models: _Optional[int] = ..., total_cost: _Optional[float] = ..., recent_events: _Optional[_Iterable[_Union[RecentEvent, _Mapping]]] = ...) -> None: ...

class MetricsRequest(_message.Message):
    __slots__ = ("start_date", "end_date")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ...) -> None: ...

class MLModelMetrics(_message.Message):
    __slots__ = ("model_id", "model_type", "events", "predictions", "first_seen", "last_seen")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_type: str
    events: int
    predictions: int
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    def __init__(self, model_id: _Optional[str] = ..., model_type: _Optional[str] = ..., events: _Optional[int] = ..., predictions: _Optional[int] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MLMetricsResponse(_message.Message):
    __slots__ = ("total_events", "total_predictions", "models")
    TOTAL_EVENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    total_events: int
    total_predictions: int
    models: _containers.RepeatedCompositeFieldContainer[MLModelMetrics]
    def __init__(self, total_events: _Optional[int] = ..., total_predictions: _Optional[int] = ..., models: _Optional[_Iterable[_Union[MLModelMetrics, _Mapping]]] = ...) -> None: ...

class LLMModelMetrics(_message.Message):
    __slots__ = ("model_name", "requests", "tokens", "cost", "avg_prompt_length", "avg_response_length", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    AVG_PROMPT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    AVG_RESPONSE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P95_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    requests: int
    tokens: int
    cost: float
    avg_prompt_length: float
    avg_response_length: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    def __init__(self, model_name: _Optional[str] = ..., requests: _Optional[int] = ..., tokens: _Optional[int] = ..., cost: _Optional[float] = ..., avg_prompt_length: _Optional[float] = ..., avg_response_length: _Optional[float] = ..., latency_p50_ms: _Optional[float] = ..., latency_p95_ms: _Optional[float] = ..., latency_p99_ms: _Optional[float] = ...) -> None: ...

class LLMMetricsResponse(_message.Message):
    __slots__ = ("total_requests", "total_tokens", "total_cost", "models")
    TOTAL_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    total_requests: int
    total_tokens: int
    total_cost: float
    models: _containers.RepeatedCompositeFieldContainer[LLMModelMetrics]
    def __init__(self, total_requests: _Optional[int] = ..., total_tokens: _Optional[int] = ..., total_cost: _Optional[float] = ..., models: _Optional[_Iterable[_Union[LLMModelMetrics, _Mapping]]] = ...) -> None: ...
