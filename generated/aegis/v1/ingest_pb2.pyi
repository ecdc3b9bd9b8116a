from aegis.v1 import events_pb2 as _events_pb2
from aegis.v1 import options_pb2 as _options_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IngestMLRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_events_pb2.MLEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[_events_pb2.MLEvent, _Mapping]]] = ...) -> None: ...

class IngestLLMRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_events_pb2.LLMEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[_events_pb2.LLMEvent, _Mapping]]] = ...) -> None: ...

class IngestMLJsonRequest(_message.Message):
    __slots__ = ("events", "events_json")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Value]
    events_json: bytes
    def __init__(self, events: _Optional[_Iterable[_Union[_struct_pb2.Value, _Mapping]]] = ..., events_json: _Optional[bytes] = ...) -> None: ...

class IngestLLMJsonRequest(_message.Message):
    __slots__ = ("events", "events_json")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Value]
    events_json: bytes
    def __init__(self, events: _Optional[_Iterable[_Union[_struct_pb2.Value, _Mapping]]] = ..., events_json: _Optional[bytes] = ...) -> None: ...

class EventError(_message.Message):
    __slots__ = ("index", "field", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    field: str
    reason: str
    def __init__(self, index: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class IngestResponse(_message.Message):
    __slots__ = ("accepted", "rejected", "duplicates", "errors")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: int
    duplicates: int
    errors: _containers.RepeatedCompositeFieldContainer[EventError]
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., duplicates: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[EventError, _Mapping]]] = ...) -> None: ...

class StreamEventsRequest(_message.Message):
    __slots__ = ("sequence", "ml", "llm")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ML_FIELD_NUMBER: _ClassVar[int]
    LLM_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    ml: IngestMLRequest
    llm: IngestLLMRequest
    def __init__(self, sequence: _Optional[int] = ..., ml: _Optional[_Union[IngestMLRequest, _Mapping]] = ..., llm: _Optional[_Union[IngestLLMRequest, _Mapping]] = ...) -> None: ...

class StreamEventsResponse(_message.Message):
    __slots__ = ("sequence", "result")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    result: IngestResponse
    def __init__(self, sequence: _Optional[int] = ..., result: _Optional[_Union[IngestResponse, _Mapping]] = ...) -> None: ...
