import datetime

from aegis.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
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
    __slots__ = ("total_ml_predictions", "total_llm_requests", "active_models", "total_cost", "recent_events", "total_errors")
    TOTAL_ML_PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_LLM_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_MODELS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_FIELD_NUMBER: _ClassVar[int]
    RECENT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ERRORS_FIELD_NUMBER: _ClassVar[int]
    total_ml_predictions: int
    total_llm_requests: int
    active_models: int
    total_cost: float
    recent_events: _containers.RepeatedCompositeFieldContainer[RecentEvent]
    total_errors: int
    def __init__(self, total_ml_predictions: _Optional[int] = ..., total_llm_requests: _Optional[int] = ..., active_models: _Optional[int] = ..., total_cost: _Optional[float] = ..., recent_events: _Optional[_Iterable[_Union[RecentEvent, _Mapping]]] = ..., total_errors: _Optional[int] = ...) -> None: ...

class MetricsRequest(_message.Message):
    __slots__ = ("start_date", "end_date", "interval", "user_id", "environment", "release")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    interval: str
    user_id: str
    environment: str
    release: str
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., interval: _Optional[str] = ..., user_id: _Optional[str] = ..., environment: _Optional[str] = ..., release: _Optional[str] = ...) -> None: ...

class MLSeriesPoint(_message.Message):
    __slots__ = ("time", "events", "predictions", "errors", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")
    TIME_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P95_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    events: int
    predictions: int
    errors: int
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., events: _Optional[int] = ..., predictions: _Optional[int] = ..., errors: _Optional[int] = ..., latency_p50_ms: _Optional[float] = ..., latency_p95_ms: _Optional[float] = ..., latency_p99_ms: _Optional[float] = ...) -> None: ...

class LLMSeriesPoint(_message.Message):
    __slots__ = ("time", "requests", "tokens", "cost", "errors", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "input_tokens", "output_tokens")
    TIME_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P95_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    requests: int
    tokens: int
    cost: float
    errors: int
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    input_tokens: int
    output_tokens: int
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requests: _Optional[int] = ..., tokens: _Optional[int] = ..., cost: _Optional[float] = ..., errors: _Optional[int] = ..., latency_p50_ms: _Optional[float] = ..., latency_p95_ms: _Optional[float] = ..., latency_p99_ms: _Optional[float] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ...) -> None: ...

class MLModelMetrics(_message.Message):
    __slots__ = ("model_id", "model_type", "events", "predictions", "first_seen", "last_seen", "errors", "error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "series")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P95_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_type: str
    events: int
    predictions: int
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    errors: int
    error_rate: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    series: _containers.RepeatedCompositeFieldContainer[MLSeriesPoint]
    def __init__(self, model_id: _Optional[str] = ..., model_type: _Optional[str] = ..., events: _Optional[int] = ..., predictions: _Optional[int] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., errors: _Optional[int] = ..., error_rate: _Optional[float] = ..., latency_p50_ms: _Optional[float] = ..., latency_p95_ms: _Optional[float] = ..., latency_p99_ms: _Optional[float] = ..., series: _Optional[_Iterable[_Union[MLSeriesPoint, _Mapping]]] = ...) -> None: ...

class MLMetricsResponse(_message.Message):
    __slots__ = ("total_events", "total_predictions", "models", "total_errors", "error_rate", "series")
    TOTAL_EVENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    total_events: int
    total_predictions: int
    models: _containers.RepeatedCompositeFieldContainer[MLModelMetrics]
    total_errors: int
    error_rate: float
    series: _containers.RepeatedCompositeFieldContainer[MLSeriesPoint]
    def __init__(self, total_events: _Optional[int] = ..., total_predictions: _Optional[int] = ..., models: _Optional[_Iterable[_Union[MLModelMetrics, _Mapping]]] = ..., total_errors: _Optional[int] = ..., error_rate: _Optional[float] = ..., series: _Optional[_Iterable[_Union[MLSeriesPoint, _Mapping]]] = ...) -> None: ...

class LLMModelMetrics(_message.Message):
    __slots__ = ("model_name", "requests", "tokens", "cost", "avg_prompt_length", "avg_response_length", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "errors", "error_rate", "input_tokens", "output_tokens", "series")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    AVG_PROMPT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    AVG_RESPONSE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P95_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_MS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    requests: int
    tokens: int
    cost: float
    avg_prompt_length: float
    avg_response_length: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    errors: int
    error_rate: float
    input_tokens: int
    output_tokens: int
    series: _containers.RepeatedCompositeFieldContainer[LLMSeriesPoint]
    def __init__(self, model_name: _Optional[str] = ..., requests: _Optional[int] = ..., tokens: _Optional[int] = ..., cost: _Optional[float] = ..., avg_prompt_length: _Optional[float] = ..., avg_response_length: _Optional[float] = ..., latency_p50_ms: _Optional[float] = ..., latency_p95_ms: _Optional[float] = ..., latency_p99_ms: _Optional[float] = ..., errors: _Optional[int] = ..., error_rate: _Optional[float] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., series: _Optional[_Iterable[_Union[LLMSeriesPoint, _Mapping]]] = ...) -> None: ...

class LLMMetricsResponse(_message.Message):
    __slots__ = ("total_requests", "total_tokens", "total_cost", "models", "total_errors", "error_rate", "series")
    TOTAL_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    total_requests: int
    total_tokens: int
    total_cost: float
    models: _containers.RepeatedCompositeFieldContainer[LLMModelMetrics]
    total_errors: int
    error_rate: float
    series: _containers.RepeatedCompositeFieldContainer[LLMSeriesPoint]
    def __init__(self, total_requests: _Optional[int] = ..., total_tokens: _Optional[int] = ..., total_cost: _Optional[float] = ..., models: _Optional[_Iterable[_Union[LLMModelMetrics, _Mapping]]] = ..., total_errors: _Optional[int] = ..., error_rate: _Optional[float] = ..., series: _Optional[_Iterable[_Union[LLMSeriesPoint, _Mapping]]] = ...) -> None: ...

class MLDriftRequest(_message.Message):
    __slots__ = ("model_id", "start_date", "end_date", "reference_start", "reference_end")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_START_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_END_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    start_date: str
    end_date: str
    reference_start: str
    reference_end: str
    def __init__(self, model_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., reference_start: _Optional[str] = ..., reference_end: _Optional[str] = ...) -> None: ...

class DriftWindow(_message.Message):
    __slots__ = ("start", "end", "rows")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    rows: int
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rows: _Optional[int] = ...) -> None: ...

class TopValue(_message.Message):
    __slots__ = ("value", "share", "other")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    OTHER_FIELD_NUMBER: _ClassVar[int]
    value: str
    share: float
    other: bool
    def __init__(self, value: _Optional[str] = ..., share: _Optional[float] = ..., other: _Optional[bool] = ...) -> None: ...

class FeatureDrift(_message.Message):
    __slots__ = ("name", "type", "psi", "status", "reference_quantiles", "current_quantiles", "js_distance", "reference_top", "current_top")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PSI_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_QUANTILES_FIELD_NUMBER: _ClassVar[int]
    CURRENT_QUANTILES_FIELD_NUMBER: _ClassVar[int]
    JS_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_TOP_FIELD_NUMBER: _ClassVar[int]
    CURRENT_TOP_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    psi: float
    status: str
    reference_quantiles: _containers.RepeatedScalarFieldContainer[float]
    current_quantiles: _containers.RepeatedScalarFieldContainer[float]
    js_distance: float
    reference_top: _containers.RepeatedCompositeFieldContainer[TopValue]
    current_top: _containers.RepeatedCompositeFieldContainer[TopValue]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., psi: _Optional[float] = ..., status: _Optional[str] = ..., reference_quantiles: _Optional[_Iterable[float]] = ..., current_quantiles: _Optional[_Iterable[float]] = ..., js_distance: _Optional[float] = ..., reference_top: _Optional[_Iterable[_Union[TopValue, _Mapping]]] = ..., current_top: _Optional[_Iterable[_Union[TopValue, _Mapping]]] = ...) -> None: ...

class MLDriftResponse(_message.Message):
    __slots__ = ("model_id", "reference", "current", "features", "predictions")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    reference: DriftWindow
    current: DriftWindow
    features: _containers.RepeatedCompositeFieldContainer[FeatureDrift]
    predictions: FeatureDrift
    def __init__(self, model_id: _Optional[str] = ..., reference: _Optional[_Union[DriftWindow, _Mapping]] = ..., current: _Optional[_Union[DriftWindow, _Mapping]] = ..., features: _Optional[_Iterable[_Union[FeatureDrift, _Mapping]]] = ..., predictions: _Optional[_Union[FeatureDrift, _Mapping]] = ...) -> None: ...
