from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TailEventsRequest(_message.Message):
    __slots__ = ("kind",)
    KIND_FIELD_NUMBER: _ClassVar[int]
    kind: str
    def __init__(self, kind: _Optional[str] = ...) -> None: ...

class TailEvent(_message.Message):
    __slots__ = ("kind", "event")
    KIND_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    event: _struct_pb2.Struct
    def __init__(self, kind: _Optional[str] = ..., event: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class TailEventsResponse(_message.Message):
    __slots__ = ("started", "events")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    started: bool
    events: _containers.RepeatedCompositeFieldContainer[TailEvent]
    def __init__(self, started: _Optional[bool] = ..., events: _Optional[_Iterable[_Union[TailEvent, _Mapping]]] = ...) -> None: ...
