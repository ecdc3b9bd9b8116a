# cython: language_level=3, boundscheck=False, wraparound=False
"""A cell of a group of stored events (collector.rollups.cells.of_events, which stays the rule
and runs when this is not built), in C: one pass over the events for the counts and sums, the
latencies' histogram buckets computed here (histogram.bucket_of's log2, floor and str) rather
than by a Python call each. tests/test_cell_sums.py holds the two to the same cell, bit for
bit and key for key, for any events.

Hot path: partial_of builds a cell per (model, minute) of every batch: ~5,400 instructions an
event as compiled Python (5 % of a gRPC stream's ingest in the collector's profile).
"""

from cpython.dict cimport PyDict_CheckExact, PyDict_GetItem, PyDict_SetItem
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_CheckExact
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_AsDouble, PyLong_CheckExact, PyLong_FromSsize_t
from cpython.number cimport PyNumber_Add
from cpython.object cimport PyObject, PyObject_IsTrue, PyObject_RichCompareBool, Py_GT, Py_LT
from libc.math cimport floor, isfinite, log2

cdef extern from "Python.h":
    object PyUnicode_FromFormat(const char*, ...)

cdef double _STEPS = 16.0  # histogram.STEPS_PER_DOUBLING
cdef enum:
    # The names of buckets _LOW .. _HIGH - 1 (latencies of 2^-64 to 2^96 ms) are made once.
    _LOW = -1024
    _HIGH = 1536
cdef list _NAMES = [None] * (_HIGH - _LOW)


cdef inline object _get(dict doc, object key):
    cdef PyObject* found = PyDict_GetItem(doc, key)
    return None if found is NULL else <object>found


cdef class Cells:
    """cells.of_events with cells' own helpers: `empty` (the empty cell), `span` (_span) and
    `bucket_of` (histogram.bucket_of, for a latency this does not bucket itself)."""

    cdef object empty, span, bucket_of

    def __init__(self, *, object empty, object span, object bucket_of):
        self.empty, self.span, self.bucket_of = empty, span, bucket_of

    cdef object _bucket(self, object latency):
        """histogram.bucket_of(latency) for a positive finite float or int; else its own."""
        cdef double value
        if PyFloat_CheckExact(latency):
            value = PyFloat_AS_DOUBLE(latency)
        elif PyLong_CheckExact(latency):
            try:
                value = PyLong_AsDouble(latency)
            except OverflowError:  # past a double: math.log2 takes it its own way
                return self.bucket_of(latency)
        else:
            return self.bucket_of(latency)
        if not isfinite(value) or value <= 0:
            return self.bucket_of(latency)  # "z", or the error bucket_of raises
        cdef long long index = <long long>floor(log2(value) * _STEPS)
        cdef object name
        if not _LOW <= index < _HIGH:
            return PyUnicode_FromFormat("%lld", index)
        name = <object>PyList_GET_ITEM(_NAMES, index - _LOW)
        if name is None:
            name = PyUnicode_FromFormat("%lld", index)
            _NAMES[index - _LOW] = name
        return name

    def of_events(self, list docs, tuple summed):
        """cells.of_events(docs, summed)."""
        cdef Py_ssize_t n = PyList_GET_SIZE(docs)
        cdef Py_ssize_t i, errors = 0, timed = 0, mixed
        cdef dict cell = self.empty()
        cdef dict doc, histogram
        cdef object value, total, source, acc, low = None, high = None, bucket, count
        cdef PyObject* found
        for i in range(n):
            doc = <dict?>PyList_GET_ITEM(docs, i)
            if PyObject_IsTrue(_get(doc, "error")):
                errors += 1
        cell["n"] = n
        cell["errors"] = errors
        for total, source in summed:
            acc = cell[total]
            for i in range(n):
                value = _get(<dict?>PyList_GET_ITEM(docs, i), source)
                if value is not None:
                    acc = PyNumber_Add(acc, value)
            cell[total] = acc
        histogram = {}
        for i in range(n):
            value = _get(<dict?>PyList_GET_ITEM(docs, i), "latency_ms")
            if value is None:
                continue
            timed += 1
            bucket = self._bucket(value)
            found = PyDict_GetItem(histogram, bucket)
            PyDict_SetItem(histogram, bucket, 1 if found is NULL else <object>found + 1)
            if low is None:
                low = high = value
            else:
                if PyObject_RichCompareBool(value, low, Py_LT):
                    low = value
                if PyObject_RichCompareBool(value, high, Py_GT):
                    high = value
        if timed:
            cell["timed"] = timed
            cell["h"] = histogram
            cell["lat_min"], cell["lat_max"] = low, high
        if n == 0:
            return cell
        stamps = [(<dict?>PyList_GET_ITEM(docs, i))["timestamp"] for i in range(n)]
        types = [_get(<dict?>PyList_GET_ITEM(docs, i), "model_type") for i in range(n)]
        mixed = 0
        for i in range(n):
            if types[i] is None:
                mixed += 1
        if 0 < mixed < n:  # not one kind's events: as add_event would, in turn
            for i in range(n):
                self.span(cell, stamps[i], stamps[i], types[i])
            return cell
        first = last = stamps[0]
        for i in range(1, n):
            if PyObject_RichCompareBool(stamps[i], first, Py_LT):
                first = stamps[i]
            if PyObject_RichCompareBool(stamps[i], last, Py_GT):
                last = stamps[i]
        cell["first"], cell["last"] = first, last
        if types[0] is not None:  # the latest event's; of those at the same moment, the greatest
            chosen = None
            for i in range(n):
                if stamps[i] == last and types[i] is not None:
                    if chosen is None or PyObject_RichCompareBool(types[i], chosen, Py_GT):
                        chosen = types[i]
            cell["model_type"] = chosen
        return cell
