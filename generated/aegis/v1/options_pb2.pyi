from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
HTTP_SUCCESS_STATUS_FIELD_NUMBER: _ClassVar[int]
http_success_status: _descriptor.FieldDescriptor
NO_AUTH_FIELD_NUMBER: _ClassVar[int]
no_auth: _descriptor.FieldDescriptor
OAUTH2_ERRORS_FIELD_NUMBER: _ClassVar[int]
oauth2_errors: _descriptor.FieldDescriptor
HTTP_NOT_FOUND_FIELD_NUMBER: _ClassVar[int]
http_not_found: _descriptor.FieldDescriptor
JSON_MESSAGE_FIELD_NUMBER: _ClassVar[int]
json_message: _descriptor.FieldDescriptor
JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
json_schema: _descriptor.FieldDescriptor
JSON_SCHEMA_AS_FIELD_NUMBER: _ClassVar[int]
json_schema_as: _descriptor.FieldDescriptor
JSON_TEXT_FIELD_NUMBER: _ClassVar[int]
json_text: _descriptor.FieldDescriptor
