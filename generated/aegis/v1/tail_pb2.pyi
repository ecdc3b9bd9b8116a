from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TailEventsRequest(_message.Message):
    __slots__ = ("kind",)
    KIND_FIELD_NUMBER: _ClassVar[int]
    kind: str
    def __init__(self, kind: _Optional[str] = ...) -> None: ...

class TailStarted(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TailEvent(_message.Message):
    __slots__ = ("kind", "event")
    KIND_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    event: _struct_pb2.Struct
    def __init__(self, kind: _Optional[str] = ..., event: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class TailEventsResponse(_message.Message):
    __slots__ = ("started", "event")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    started: TailStarted
    event: TailEvent
    def __init__(self, started: _Optional[_Union[TailStarted, _Mapping]] = ..., event: _Optional[_Union[TailEvent, _Mapping]] = ...) -> None: ...
