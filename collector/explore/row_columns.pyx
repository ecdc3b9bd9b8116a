# cython: language_level=3, boundscheck=False, wraparound=False
"""One hour's events as explore's row columns (collector.explore.rows._event_columns, which
stays the rule and runs when this is not built), in C: one pass over the events, each field
looked up once and set into a list made at its length, rather than a `map` of `dict.get` per
column. tests/test_row_columns.py holds the two to the same columns for any events.

Hot path: ~4,500 instructions an event as compiled Python (the collector's profile: 6 % of a
gRPC stream's ingest); here ~800.
"""

from cpython.dict cimport PyDict_CheckExact, PyDict_GetItem
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE, PyList_New, PyList_SET_ITEM
from cpython.object cimport PyObject, PyObject_IsTrue
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM

# The columns after the timestamp, in collector.explore.rows.COLUMNS' order: the event's id,
# its model (the kind's key, given), then these fields as they are (None when absent), the
# error as 1 or 0, then these.
cdef tuple _MIDDLE = ("user_id", "session_id", "trace_id", "span_id", "parent_span_id",
                      "environment", "release", "tags")
cdef tuple _LAST = ("cost", "tokens_used", "latency_ms")


cdef inline void _put(list column, Py_ssize_t i, object value):
    Py_INCREF(value)
    PyList_SET_ITEM(column, i, value)


cdef inline object _get(dict doc, object key):
    cdef PyObject* found = PyDict_GetItem(doc, key)
    return None if found is NULL else <object>found


def event_columns(str model_key, list stamps, list docs):
    """rows._event_columns(model_key, stamps, docs): the columns of these events."""
    cdef Py_ssize_t n = PyList_GET_SIZE(docs)
    cdef Py_ssize_t i, j
    cdef list ids = PyList_New(n)
    cdef list models = PyList_New(n)
    cdef list middle = [PyList_New(n) for _ in _MIDDLE]
    cdef list errors = PyList_New(n)
    cdef list last = [PyList_New(n) for _ in _LAST]
    cdef PyObject* found
    cdef object doc, key
    for i in range(n):
        doc = <object>PyList_GET_ITEM(docs, i)
        if not PyDict_CheckExact(doc):
            raise TypeError(f"an event is a dict, not {type(doc).__name__}")
        found = PyDict_GetItem(doc, "event_id")
        if found is NULL:
            raise KeyError("event_id")
        _put(ids, i, <object>found)
        found = PyDict_GetItem(doc, model_key)
        if found is NULL:
            raise KeyError(model_key)
        _put(models, i, <object>found)
        for j in range(8):
            _put(<list>PyList_GET_ITEM(middle, j), i, _get(doc, <object>PyTuple_GET_ITEM(_MIDDLE, j)))
        _put(errors, i, 1 if PyObject_IsTrue(_get(doc, "error")) else 0)
        for j in range(3):
            _put(<list>PyList_GET_ITEM(last, j), i, _get(doc, <object>PyTuple_GET_ITEM(_LAST, j)))
    return [stamps, ids, models, *middle, errors, *last]
