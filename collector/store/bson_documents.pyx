# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Ingest's documents as BSON, encoded here in C rather than by PyMongo, for the types
ingest's documents hold; `encode` returns None for any other, and PyMongo encodes that
document as before. `encoded_documents` hands a batch to PyMongo so
(collector.store.raw_documents).

Hot path: PyMongo's encoder copies every key and string into a new bytes object, asks every
datetime for its utcoffset and subtracts it (a new datetime), ~900 instructions an element.
This one reads a str's UTF-8 where CPython keeps it (an ASCII str is its own UTF-8) and a
datetime's fields in place. The bytes are PyMongo's, byte for byte: tests/test_bson_documents.py
checks that against bson.encode for any document hypothesis builds.

Written in Cython proper (typed, C buffers), not in the plain Python of
collector.app.compiled.MODULES: it only pays when compiled, so it has no Python twin, and
not built (AEGIS_PURE_PYTHON, no compiler) it is simply not used.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.datetime cimport (
    PyDateTime_CheckExact,
    datetime_day,
    datetime_hour,
    datetime_microsecond,
    datetime_minute,
    datetime_month,
    datetime_second,
    datetime_tzinfo,
    datetime_year,
    import_datetime,
)
from cpython.dict cimport PyDict_CheckExact, PyDict_GetItem, PyDict_Next
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.list cimport PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_CheckExact
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_CheckExact
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy

import datetime as _dt
import sys

import_datetime()

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL
    long long PyLong_AsLongLongAndOverflow(object, int*) except? -1
    bint PyBool_Check(object)

cdef object _UTC = _dt.timezone.utc
cdef bint _LITTLE = sys.byteorder == "little"
cdef int _MAX_DEPTH = 100  # deeper than ingest allows (validation: 8); PyMongo recurses on
cdef Py_ssize_t _MAX_SIZE = 0x7FFFFFFF


cdef struct Buffer:
    char* data
    Py_ssize_t size
    Py_ssize_t capacity


class Unsupported(Exception):
    """A value this encoder leaves to PyMongo."""


cdef int _grow(Buffer* b, Py_ssize_t need) except -1:
    cdef Py_ssize_t capacity = b.capacity * 2
    cdef char* data
    while capacity < b.size + need:
        capacity *= 2
    if capacity > _MAX_SIZE:
        raise Unsupported("too large")
    data = <char*>realloc(b.data, capacity)
    if data == NULL:
        raise MemoryError()
    b.data = data
    b.capacity = capacity
    return 0


cdef inline int _write(Buffer* b, const void* data, Py_ssize_t size) except -1:
    if b.size + size > b.capacity:
        _grow(b, size)
    memcpy(b.data + b.size, data, size)
    b.size += size
    return 0


cdef inline Py_ssize_t _reserve(Buffer* b, Py_ssize_t size) except -1:
    cdef Py_ssize_t at = b.size
    if b.size + size > b.capacity:
        _grow(b, size)
    b.size += size
    return at


cdef inline void _put_int32(Buffer* b, Py_ssize_t at, int32_t value) noexcept:
    memcpy(b.data + at, &value, 4)  # little-endian hosts only (see encode)


cdef inline int _write_int32(Buffer* b, int32_t value) except -1:
    return _write(b, &value, 4)


cdef inline int _write_int64(Buffer* b, int64_t value) except -1:
    return _write(b, &value, 8)


cdef inline int _write_element(
    Buffer* b, object key, object value, int depth, bint top_level
) except -1:
    cdef Py_ssize_t size, type_at
    cdef const char* data
    if not PyUnicode_CheckExact(key):
        raise Unsupported("key")
    data = PyUnicode_AsUTF8AndSize(key, &size)  # raises for a lone surrogate
    if top_level and size == 3 and memcmp(data, b"_id", 3) == 0:
        return 0  # written first
    if memchr(data, 0, size) != NULL:
        raise Unsupported("NUL in key")  # PyMongo rejects it, with its own error
    type_at = _reserve(b, 1)
    _write(b, data, size + 1)  # with its terminating NUL
    return _write_value(b, type_at, value, depth)


cdef inline int _write_index(Buffer* b, Py_ssize_t index) except -1:
    cdef char digits[24]
    cdef int n = 0
    cdef int i
    cdef char swap
    if index == 0:
        return _write(b, b"0", 2)
    while index > 0:
        digits[n] = <char>(48 + index % 10)
        index //= 10
        n += 1
    for i in range(n // 2):
        swap = digits[i]
        digits[i] = digits[n - 1 - i]
        digits[n - 1 - i] = swap
    digits[n] = 0
    return _write(b, digits, n + 1)


cdef inline int64_t _days_from_civil(int64_t y, int64_t m, int64_t d) noexcept:
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    cdef int64_t era, yoe, doy, doe
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline int _write_datetime(Buffer* b, object value) except -1:
    cdef object tz = datetime_tzinfo(value)
    cdef int64_t seconds
    if tz is not None and tz is not _UTC:
        raise Unsupported("tzinfo")  # PyMongo asks it for its offset
    seconds = (
        _days_from_civil(datetime_year(value), datetime_month(value), datetime_day(value)) * 86400
        + datetime_hour(value) * 3600
        + datetime_minute(value) * 60
        + datetime_second(value)
    )
    return _write_int64(b, seconds * 1000 + datetime_microsecond(value) // 1000)


def epoch_ms(object moment):
    """round(moment.timestamp() * 1000), the milliseconds since the epoch of an aware
    datetime, computed from its fields in place (~10x cheaper: timestamp() asks the zone for
    its offset and builds a timedelta); for a datetime of another zone or type, or not of
    whole milliseconds, from timestamp() itself."""
    cdef int64_t seconds
    if (
        PyDateTime_CheckExact(moment)
        and datetime_tzinfo(moment) is _UTC
        and datetime_microsecond(moment) % 1000 == 0
    ):
        seconds = (
            _days_from_civil(datetime_year(moment), datetime_month(moment), datetime_day(moment))
            * 86400
            + datetime_hour(moment) * 3600
            + datetime_minute(moment) * 60
            + datetime_second(moment)
        )
        return seconds * 1000 + datetime_microsecond(moment) // 1000
    return round(moment.timestamp() * 1000)


cdef int _write_value(Buffer* b, Py_ssize_t type_at, object value, int depth) except -1:
    cdef Py_ssize_t size
    cdef const char* data
    cdef long long number
    cdef int overflow
    cdef double real
    cdef uint8_t flag
    if value is None:
        b.data[type_at] = 0x0A
    elif PyUnicode_CheckExact(value):
        b.data[type_at] = 0x02
        data = PyUnicode_AsUTF8AndSize(value, &size)
        if size + 1 > _MAX_SIZE:
            raise Unsupported("too large")
        _write_int32(b, <int32_t>(size + 1))
        _write(b, data, size + 1)
    elif PyBool_Check(value):
        b.data[type_at] = 0x08
        flag = 1 if value is True else 0
        _write(b, &flag, 1)
    elif PyLong_CheckExact(value):
        number = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow:
            raise Unsupported("integer past 64 bits")  # PyMongo raises OverflowError
        if -2147483648 <= number <= 2147483647:
            b.data[type_at] = 0x10
            _write_int32(b, <int32_t>number)
        else:
            b.data[type_at] = 0x12
            _write_int64(b, <int64_t>number)
    elif PyFloat_CheckExact(value):
        b.data[type_at] = 0x01
        real = PyFloat_AS_DOUBLE(value)
        _write(b, &real, 8)
    elif PyDateTime_CheckExact(value):
        b.data[type_at] = 0x09
        _write_datetime(b, value)
    elif PyDict_CheckExact(value):
        b.data[type_at] = 0x03
        _write_document(b, value, depth + 1, False)
    elif PyList_CheckExact(value) or PyTuple_CheckExact(value):
        b.data[type_at] = 0x04
        _write_array(b, value, depth + 1)
    else:
        # bytes, ObjectId, subclasses (which may carry PyMongo's _type_marker), NumPy
        # numbers...: not in ingest's documents, or not often enough to matter.
        raise Unsupported(type(value).__name__)
    return 0


cdef int _write_array(Buffer* b, object items, int depth) except -1:
    cdef Py_ssize_t start, type_at, i, count
    cdef bint is_list = PyList_CheckExact(items)
    if depth > _MAX_DEPTH:
        raise Unsupported("depth")
    start = _reserve(b, 4)
    count = PyList_GET_SIZE(items) if is_list else PyTuple_GET_SIZE(items)
    for i in range(count):
        type_at = _reserve(b, 1)
        _write_index(b, i)
        if is_list:
            _write_value(b, type_at, <object>PyList_GET_ITEM(items, i), depth)
        else:
            _write_value(b, type_at, <object>PyTuple_GET_ITEM(items, i), depth)
        if is_list and PyList_GET_SIZE(items) != count:
            raise Unsupported("list changed")
    _write(b, b"", 1)
    _put_int32(b, start, <int32_t>(b.size - start))
    return 0


cdef int _write_document(Buffer* b, dict doc, int depth, bint top_level) except -1:
    cdef Py_ssize_t start, type_at
    cdef Py_ssize_t pos = 0
    cdef PyObject* key
    cdef PyObject* value
    cdef PyObject* found
    if depth > _MAX_DEPTH:
        raise Unsupported("depth")
    start = _reserve(b, 4)
    if top_level:
        # `_id` first, as PyMongo writes it (and MongoDB would otherwise move it).
        found = PyDict_GetItem(doc, "_id")
        if found == NULL:
            raise Unsupported("no _id")  # PyMongo adds one
        type_at = _reserve(b, 1)
        _write(b, b"_id", 4)
        _write_value(b, type_at, <object>found, depth)
    while PyDict_Next(doc, &pos, &key, &value):
        _write_element(b, <object>key, <object>value, depth, top_level)
    _write(b, b"", 1)
    _put_int32(b, start, <int32_t>(b.size - start))
    return 0


def encode(object doc):
    """`doc` (a dict with an `_id`) as BSON, exactly as bson.encode writes it; None when it
    holds what only PyMongo encodes (another type, a key PyMongo rejects, an integer past
    64 bits...), which PyMongo then encodes or rejects as it always has."""
    return _encode(doc)


cdef class Encoded:
    """A document already encoded: PyMongo's encoder copies its `raw` bytes as they are, as
    it does a RawBSONDocument's (its C knows both by their _type_marker, 101, then reads
    `raw`), without a RawBSONDocument's Python __init__ (~1,300 instructions a document)."""

    cdef readonly bytes raw
    _type_marker = 101

    def __cinit__(self, bytes raw):
        self.raw = raw


def encoded_documents(object docs):
    """`docs` for an insert command, in order: each as an Encoded, or as the dict it is when
    `encode` leaves it to PyMongo."""
    cdef list out = []
    cdef object data
    for doc in docs:
        data = _encode(doc)
        out.append(doc if data is None else Encoded(data))
    return out


cdef object _encode(object doc):
    cdef Buffer b
    if not _LITTLE or not PyDict_CheckExact(doc):
        return None
    b.data = <char*>malloc(1024)
    if b.data == NULL:
        raise MemoryError()
    b.size = 0
    b.capacity = 1024
    try:
        _write_document(&b, doc, 0, True)
        return PyBytes_FromStringAndSize(b.data, b.size)
    except (Unsupported, UnicodeError):
        return None
    finally:
        free(b.data)
