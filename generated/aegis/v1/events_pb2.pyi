import datetime

from aegis.v1 import options_pb2 as _options_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MLEvent(_message.Message):
    __slots__ = ("event_id", "model_type", "model_id", "input_shape", "prediction_count", "timestamp", "metadata", "metadata_json", "latency_ms", "error", "user_id", "session_id", "trace_id", "span_id", "parent_span_id", "environment", "release", "tags", "features", "predictions")
    class FeaturesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: FeatureValues
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[FeatureValues, _Mapping]] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_SHAPE_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    model_type: str
    model_id: str
    input_shape: _containers.RepeatedScalarFieldContainer[int]
    prediction_count: int
    timestamp: _timestamp_pb2.Timestamp
    metadata: _struct_pb2.Struct
    metadata_json: bytes
    latency_ms: float
    error: str
    user_id: str
    session_id: str
    trace_id: str
    span_id: str
    parent_span_id: str
    environment: str
    release: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    features: _containers.MessageMap[str, FeatureValues]
    predictions: FeatureValues
    def __init__(self, event_id: _Optional[str] = ..., model_type: _Optional[str] = ..., model_id: _Optional[str] = ..., input_shape: _Optional[_Iterable[int]] = ..., prediction_count: _Optional[int] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., metadata_json: _Optional[bytes] = ..., latency_ms: _Optional[float] = ..., error: _Optional[str] = ..., user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., parent_span_id: _Optional[str] = ..., environment: _Optional[str] = ..., release: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., features: _Optional[_Mapping[str, FeatureValues]] = ..., predictions: _Optional[_Union[FeatureValues, _Mapping]] = ...) -> None: ...

class FeatureValues(_message.Message):
    __slots__ = ("numbers", "strings")
    NUMBERS_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    numbers: _containers.RepeatedScalarFieldContainer[float]
    strings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, numbers: _Optional[_Iterable[float]] = ..., strings: _Optional[_Iterable[str]] = ...) -> None: ...

class LLMEvent(_message.Message):
    __slots__ = ("event_id", "model_name", "prompt_length", "response_length", "tokens_used", "cost", "timestamp", "metadata", "metadata_json", "latency_ms", "error", "input_tokens", "output_tokens", "provider", "user_id", "session_id", "trace_id", "span_id", "parent_span_id", "environment", "release", "tags", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "input", "input_json", "output", "output_json", "system")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    PROMPT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    TOKENS_USED_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    model_name: str
    prompt_length: int
    response_length: int
    tokens_used: int
    cost: float
    timestamp: _timestamp_pb2.Timestamp
    metadata: _struct_pb2.Struct
    metadata_json: bytes
    latency_ms: float
    error: str
    input_tokens: int
    output_tokens: int
    provider: str
    user_id: str
    session_id: str
    trace_id: str
    span_id: str
    parent_span_id: str
    environment: str
    release: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    input: _struct_pb2.Value
    input_json: bytes
    output: _struct_pb2.Value
    output_json: bytes
    system: str
    def __init__(self, event_id: _Optional[str] = ..., model_name: _Optional[str] = ..., prompt_length: _Optional[int] = ..., response_length: _Optional[int] = ..., tokens_used: _Optional[int] = ..., cost: _Optional[float] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., metadata_json: _Optional[bytes] = ..., latency_ms: _Optional[float] = ..., error: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., provider: _Optional[str] = ..., user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., parent_span_id: _Optional[str] = ..., environment: _Optional[str] = ..., release: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., cache_read_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., input: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., input_json: _Optional[bytes] = ..., output: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., output_json: _Optional[bytes] = ..., system: _Optional[str] = ...) -> None: ...
