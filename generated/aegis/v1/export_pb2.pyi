from aegis.v1 import options_pb2 as _options_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ExportEventsRequest(_message.Message):
    __slots__ = ("kind", "start_date", "end_date", "model", "format")
    KIND_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    start_date: str
    end_date: str
    model: str
    format: str
    def __init__(self, kind: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., model: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("data", "events", "content_type")
    DATA_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    events: int
    content_type: str
    def __init__(self, data: _Optional[bytes] = ..., events: _Optional[int] = ..., content_type: _Optional[str] = ...) -> None: ...
