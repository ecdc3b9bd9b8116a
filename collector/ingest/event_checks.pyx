# cython: language_level=3, boundscheck=False, wraparound=False
"""The checks every event passes (collector.ingest.validation._fill_and_check_common, and
collector.ingest.attribution.check within it), answered in C for the events that pass them:
`Common.fine(event, now)` fills what they fill and answers True, or answers False as soon as
a check may fail, or meets a value it leaves to them (a type other than the converters'), and
validation runs its own checks, which stay the rule and name the first failure. It calls the
metadata walk itself, once the checks before it have passed, so that walk raises in turn.
What it does to an event before answering False (the timestamp filled, an empty attribution
field removed) the Python does as well. Not built (AEGIS_PURE_PYTHON, no compiler), it is not
used; tests/test_event_checks.py holds both to the same outcome for any event.

Hot path: the common checks cost ~15,000 instructions an event as compiled Python (a
function call per field, `in` and `[]` per attribution field), here ~4,000 with the walk.
"""

from cpython.datetime cimport PyDateTime_CheckExact, import_datetime
from cpython.dict cimport PyDict_CheckExact, PyDict_DelItem, PyDict_GetItem, PyDict_SetItem
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.list cimport PyList_CheckExact, PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_CheckExact
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_CheckExact
from libc.math cimport isfinite
from libc.stdint cimport uint8_t

from collector.ingest.hex_digits cimport lower_hex

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    void* PyUnicode_DATA(object)
    long long PyLong_AsLongLongAndOverflow(object, int*) except? -1

import_datetime()


cdef inline bint _printable_ascii(object value) noexcept:
    """Whether an ASCII str is printable: each character from " " to "~"."""
    cdef const uint8_t* data = <const uint8_t*>PyUnicode_DATA(value)
    cdef Py_ssize_t i
    for i in range(PyUnicode_GET_LENGTH(value)):
        if data[i] < 32 or data[i] > 126:
            return False
    return True


cdef inline int _not_given(dict event, object name, object value) except -1:
    """attribution.check's "not given" (None or empty): 1 once removed, 0 if given."""
    if value is None or (PyUnicode_CheckExact(value) and PyUnicode_GET_LENGTH(value) == 0):
        PyDict_DelItem(event, name)
        return 1
    return 0


cdef class Common:
    """validation's common checks, with its bounds (given by validation, which owns them)."""

    cdef Py_ssize_t max_event_id, max_error, max_tags, min_tag, max_tag
    cdef object earliest, max_future, walk, last_now, latest
    cdef tuple lengths  # ((name, most characters), ...), in attribution's order
    cdef tuple ids  # ((name, hex digits), ...), in attribution's order

    def __init__(
        self,
        *,
        Py_ssize_t max_event_id,
        Py_ssize_t max_error,
        object earliest,
        object max_future,
        object walk,
        dict lengths,
        dict digits,
        Py_ssize_t max_tags,
        Py_ssize_t min_tag,
        Py_ssize_t max_tag,
    ):
        self.max_event_id, self.max_error = max_event_id, max_error
        self.earliest, self.max_future, self.walk = earliest, max_future, walk
        self.lengths = tuple((str(name), int(limit)) for name, limit in lengths.items())
        self.ids = tuple((str(name), int(n)) for name, n in digits.items())
        self.max_tags, self.min_tag, self.max_tag = max_tags, min_tag, max_tag
        self.last_now = self.latest = None

    def fine(self, dict event, object now):
        """True: the event passed, its timestamp filled and the attribution fields not given
        removed, as the Python checks do. False: the Python checks are to run. Raises what
        the metadata walk raises (the first bad metadata, once all before it passed)."""
        cdef PyObject* found
        cdef object value
        cdef double number
        cdef int overflow = 0
        # _event_id
        found = PyDict_GetItem(event, "event_id")
        if found is NULL:
            return False
        value = <object>found
        if (
            not PyUnicode_CheckExact(value)
            or not PyUnicode_IS_ASCII(value)
            or PyUnicode_GET_LENGTH(value) > self.max_event_id
            or not _printable_ascii(value)
        ):
            return False
        # _timestamp_or_now
        found = PyDict_GetItem(event, "timestamp")
        if found is NULL:
            return False
        value = <object>found
        if value is None:
            PyDict_SetItem(event, "timestamp", now)
        else:
            if not PyDateTime_CheckExact(value):
                return False
            if now is not self.last_now:
                self.latest = now + self.max_future
                self.last_now = now
            if value < self.earliest or value > self.latest:
                return False
        # _amount("latency_ms")
        found = PyDict_GetItem(event, "latency_ms")
        if found is not NULL and <object>found is not None:
            value = <object>found
            if PyFloat_CheckExact(value):
                number = PyFloat_AS_DOUBLE(value)
                if not isfinite(number) or number < 0:
                    return False
            elif PyLong_CheckExact(value):
                if PyLong_AsLongLongAndOverflow(value, &overflow) < 0 or overflow:
                    return False
            else:
                return False
        # _error
        found = PyDict_GetItem(event, "error")
        if found is not NULL and <object>found is not None:
            value = <object>found
            if not PyUnicode_CheckExact(value) or PyUnicode_GET_LENGTH(value) > self.max_error:
                return False
        # the metadata, walked
        found = PyDict_GetItem(event, "metadata")
        if found is NULL or not PyDict_CheckExact(<object>found):
            return False
        self.walk(<object>found)
        return self._attribution(event)

    cdef bint _attribution(self, dict event) except -1:
        """attribution.check: True once the fields not given are removed and the rest are
        within bounds; False at the first that may not be."""
        cdef PyObject* found
        cdef object value, name, tag
        cdef Py_ssize_t limit, size, i
        for name, limit in self.lengths:
            found = PyDict_GetItem(event, name)
            if found is NULL:
                continue
            value = <object>found
            if _not_given(event, name, value):
                continue
            if not PyUnicode_CheckExact(value) or PyUnicode_GET_LENGTH(value) > limit:
                return False
        for name, limit in self.ids:
            found = PyDict_GetItem(event, name)
            if found is NULL:
                continue
            value = <object>found
            if _not_given(event, name, value):
                continue
            if not PyUnicode_CheckExact(value) or not lower_hex(value, limit):
                return False
        found = PyDict_GetItem(event, "tags")
        if found is NULL:
            return True
        value = <object>found
        if value is None:
            PyDict_DelItem(event, "tags")
            return True
        if not PyList_CheckExact(value):
            return False
        size = PyList_GET_SIZE(value)
        if size == 0:
            PyDict_DelItem(event, "tags")
            return True
        if size > self.max_tags:
            return False
        for i in range(size):
            tag = <object>PyList_GET_ITEM(value, i)
            if not PyUnicode_CheckExact(tag) or not (
                self.min_tag <= PyUnicode_GET_LENGTH(tag) <= self.max_tag
            ):
                return False
        return True
